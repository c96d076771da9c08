"""Webhook processing: signature first, clear 4xx reasons naming the field, a job is never
lost (record and claim in one write; a failure lets the redelivery in), constant work per
event (calls counted against moto), the Lambda entry, and no secret in a log line."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from runnerfleet.controlplane import entrypoints
from runnerfleet.controlplane.fleet import Fleet, GroupInfo, HostInfo, Outcome
from runnerfleet.controlplane.job_table import (
    DynamoJobTable,
    JobUpdate,
    MemoryJobTable,
    create_table,
    jobs_of,
)
from runnerfleet.controlplane.metrics import NAMESPACE, QUEUED_JOBS, queued_jobs_datum
from runnerfleet.controlplane.scaler import (
    Pool,
    ProtectInstances,
    ScalerAction,
    SetDesiredCapacity,
)
from runnerfleet.controlplane.webhook_handler import WebhookProcessor

SECRET = "s3cret-webhook-value-Zq9"
NOW = 1_800_000_000.0
POOL = Pool("default", frozenset({"linux", "x64"}), 0, 3)


def payload(
    job_id: int = 11,
    action: str = "queued",
    labels: list[str] | None = None,
    runner: Any = None,
) -> bytes:
    return json.dumps(doc(job_id, action, labels, runner)).encode()


def doc(
    job_id: int = 11,
    action: str = "queued",
    labels: list[str] | None = None,
    runner: Any = None,
) -> dict[str, Any]:
    return {
        "action": action,
        "workflow_job": {
            "id": job_id,
            "run_id": 5,
            "run_attempt": 1,
            "status": action,
            "labels": labels if labels is not None else ["self-hosted", "linux"],
            "runner_name": runner,
            "created_at": "2027-01-15T08:00:00Z",
            "started_at": "2027-01-15T08:00:00Z",
            "completed_at": None,
        },
        "repository": {"full_name": "acme/app"},
        "installation": {"id": 77},
    }


def headers(
    body: bytes, delivery: str = "d-1", event: str = "workflow_job", secret: str = SECRET
) -> dict[str, str]:
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig}


@dataclass
class FakeFleet:
    """A FleetPort that records what it was asked (and can fail once on demand)."""

    name: str = "rf"
    desired: int = 0
    performed: list[ScalerAction] = field(default_factory=list)
    described: int = 0
    fail_next: bool = False

    def groups(self) -> dict[str, GroupInfo]:
        self.described += 1
        return {"default": GroupInfo("rf-default", "default", 0, 2, self.desired)}

    def hosts(self, groups: dict[str, GroupInfo] | None = None) -> list[HostInfo]:
        return []

    def execute(self, actions: Any, groups: dict[str, GroupInfo], now: float) -> list[Outcome]:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("injected: Auto Scaling unreachable")
        self.performed += list(actions)
        return [Outcome(a, True, "done") for a in actions]

    def replace(self, instance_id: str, *, decrement: bool) -> str | None:
        return None


def rows(proc: WebhookProcessor) -> list[Any]:
    return jobs_of(proc.jobs.scan(NOW)[0])


@pytest.fixture
def proc() -> WebhookProcessor:
    return WebhookProcessor(SECRET, MemoryJobTable(), [POOL], FakeFleet(), clock=lambda: NOW)


def test_queued_job_is_recorded_and_scales_out_within_asg_bounds(proc: WebhookProcessor) -> None:
    body = payload()
    reply = proc.handle(headers(body), body)
    assert reply.status == 200, reply.body
    assert [j.id for j in rows(proc)] == [11]
    # the pool says max 3, the ASG says max 2: the ASG's bounds win
    fleet = proc.fleet
    assert isinstance(fleet, FakeFleet)
    assert fleet.performed == [SetDesiredCapacity("default", 1)]
    assert reply.body["actions"][0]["action"] == "SetDesiredCapacity"
    # the group is cached in the table: later events do not describe it again
    second = payload(job_id=12)
    proc.handle(headers(second, "d-2"), second)
    assert fleet.described == 1
    assert fleet.performed[-1] == SetDesiredCapacity("default", 2)
    # at the ASG's max, a third job asks for nothing
    third = payload(job_id=13)
    assert proc.handle(headers(third, "d-3"), third).body["actions"] == []


def test_in_progress_protects_its_host_and_completed_does_nothing(proc: WebhookProcessor) -> None:
    fleet = proc.fleet
    assert isinstance(fleet, FakeFleet)
    for i, (action, runner) in enumerate(
        [("queued", None), ("in_progress", "rf-runner-default-i-0abc"), ("completed", None)]
    ):
        body = payload(action=action, runner=runner)
        assert proc.handle(headers(body, f"d-{i}"), body).status == 200
    assert fleet.performed == [
        SetDesiredCapacity("default", 1),
        ProtectInstances("default", ("i-0abc",), True),
    ]
    assert proc.jobs.pool("default").queued == 0 and proc.jobs.pool("default").in_progress == 0


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (
            lambda h, b: ({**h, "X-Hub-Signature-256": "sha256=" + "0" * 64}, b),
            401,
            "does not match",
        ),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "X-Hub-Signature-256"}, b),
            401,
            "missing",
        ),
        (lambda h, b: (h, b + b" "), 401, "does not match"),  # body changed after signing
        (lambda h, b: (headers(b, secret="other"), b), 401, "secret"),
    ],
)
def test_signature_is_checked_before_anything(
    proc: WebhookProcessor, mutate: Any, status: int, reason: str
) -> None:
    body = payload()
    h, b = mutate(headers(body), body)
    reply = proc.handle(h, b)
    assert reply.status == status and reason in reply.body["error"]
    assert rows(proc) == []
    assert isinstance(proc.fleet, FakeFleet) and proc.fleet.performed == []


def _with(path: tuple[str, ...], value: Any) -> bytes:
    d = doc()
    node: Any = d
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(d).encode()


BAD_BODIES = {
    b"not json": "not JSON",
    _with(("workflow_job", "id"), "x"): "workflow_job.id",
    _with(("workflow_job", "id"), True): "workflow_job.id",
    _with(("workflow_job", "id"), 2**64): "workflow_job.id",
    _with(("workflow_job", "id"), -3): "workflow_job.id",
    _with(("workflow_job", "run_attempt"), "2"): "workflow_job.run_attempt",
    _with(("workflow_job", "runner_name"), {"a": 1}): "workflow_job.runner_name",
    _with(("workflow_job", "runner_name"), ["x"]): "workflow_job.runner_name",
    _with(("workflow_job", "labels"), [1]): "workflow_job.labels",
    _with(("installation", "id"), "77"): "installation.id",
    _with(("repository", "full_name"), "no-slash"): "repository.full_name",
    _with(("workflow_job", "created_at"), 5): "created_at",
    payload().replace(b'"id": 11', b'"id": 1e400'): "workflow_job.id",
    payload().replace(b'"run_id": 5', b'"run_id": NaN'): "workflow_job.run_id",
    b'{"action": "queued", "workflow_job": ' + b"[" * 100_000 + b"]" * 100_000 + b"}": "nested",
    b"[" * 5000 + b"]" * 5000: "nested",
    b"[[]]": "JSON object",
    b'{"action": 5, "workflow_job": {}}': "action",
}


def test_bad_bodies_and_headers_get_clear_400s_naming_the_field(proc: WebhookProcessor) -> None:
    for i, (body, reason) in enumerate(BAD_BODIES.items()):
        reply = proc.handle(headers(body, delivery=f"d-{i}"), body)
        assert reply.status == 400 and reason in reply.body["error"], (body[:80], reply.body)
    body = payload()
    no_event = {k: v for k, v in headers(body).items() if k != "X-GitHub-Event"}
    assert proc.handle(no_event, body).status == 400
    no_delivery = {k: v for k, v in headers(body).items() if k != "X-GitHub-Delivery"}
    assert "X-GitHub-Delivery" in proc.handle(no_delivery, body).body["error"]
    odd_delivery = {**headers(body), "X-GitHub-Delivery": "a b\n"}
    assert proc.handle(odd_delivery, body).status == 400
    big = b"x" * (25 * 1024 * 1024 + 1)
    assert proc.handle(headers(big), big).status == 413
    assert rows(proc) == [] and proc.jobs.pool("default").seq == 0


def test_ping_other_events_and_hosted_jobs_are_not_recorded(proc: WebhookProcessor) -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    assert proc.handle(headers(body, event="ping"), body).body == {"ok": True, "pong": True}
    assert proc.handle(headers(body, event="push"), body).status == 202
    hosted = payload(labels=["ubuntu-latest"])
    reply = proc.handle(headers(hosted), hosted)
    assert reply.status == 202 and "not for self-hosted" in reply.body["ignored"]
    requested = payload(action="requested")
    assert proc.handle(headers(requested, delivery="d-9"), requested).status == 202
    assert rows(proc) == []


def test_duplicate_delivery_and_out_of_order_events(proc: WebhookProcessor) -> None:
    queued = payload()
    assert proc.handle(headers(queued, "d-1"), queued).body["recorded"] is True
    again = proc.handle(headers(queued, "d-1"), queued)
    assert again.body == {"ok": True, "duplicate": "d-1"}
    done = payload(action="completed", runner="rf-runner-1")
    assert proc.handle(headers(done, "d-3"), done).body["recorded"] is True
    late = payload(action="in_progress", runner="rf-runner-1")  # arrives after completed
    assert proc.handle(headers(late, "d-2"), late).body["recorded"] is False
    (job,) = rows(proc)
    assert (job.status, job.runner_name) == ("completed", "rf-runner-1")
    view = proc.jobs.pool("default")
    assert (view.queued, view.in_progress) == (0, 0)


def test_a_failure_after_the_write_lets_the_redelivery_in(proc: WebhookProcessor) -> None:
    """GitHub redelivers with the same delivery id: it must be processed, not `duplicate`."""
    fleet = proc.fleet
    assert isinstance(fleet, FakeFleet)
    fleet.fail_next = True
    body = payload(job_id=31)
    with pytest.raises(RuntimeError, match="injected"):
        proc.handle(headers(body, "d-31"), body)
    assert [j.id for j in rows(proc)] == [31]  # recorded before the failure
    again = proc.handle(headers(body, "d-31"), body)
    assert again.status == 200 and "duplicate" not in again.body, again.body
    assert fleet.performed == [SetDesiredCapacity("default", 1)]  # served
    assert proc.handle(headers(body, "d-31"), body).body == {"ok": True, "duplicate": "d-31"}


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="webhook secret is empty"):
        WebhookProcessor("", MemoryJobTable(), [POOL])


def test_no_secret_in_logs(proc: WebhookProcessor, caplog: pytest.LogCaptureFixture) -> None:
    token = "ghp_" + "A1b2C3d4E5" * 4
    caplog.set_level(logging.DEBUG)
    body = payload()
    proc.handle(headers(body, delivery=token), body)
    bad = proc.handle(headers(body, delivery="d-x", secret="wrong"), body)
    assert bad.status == 401
    text = caplog.text + json.dumps(bad.body)
    assert "job 11 queued" in caplog.text  # something was logged
    assert SECRET not in text and token not in text


# ---- property: any body with a valid signature gets a 2xx/4xx, never a 500 --------------
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    ("action",),
    ("workflow_job",),
    ("workflow_job", "id"),
    ("workflow_job", "run_id"),
    ("workflow_job", "run_attempt"),
    ("workflow_job", "labels"),
    ("workflow_job", "runner_name"),
    ("workflow_job", "runner_id"),
    ("workflow_job", "runner_group_name"),
    ("workflow_job", "created_at"),
    ("workflow_job", "completed_at"),
    ("workflow_job", "conclusion"),
    ("repository",),
    ("repository", "full_name"),
    ("installation",),
    ("installation", "id"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.lists(st.tuples(st.sampled_from(FIELDS), JSON), min_size=1, max_size=3),
    action=st.sampled_from(["queued", "in_progress", "completed", "waiting"]),
)
def test_valid_signature_bodies_never_yield_500(
    changes: list[tuple[tuple[str, ...], Any]], action: str
) -> None:
    fleet = FakeFleet()
    proc = WebhookProcessor(SECRET, MemoryJobTable(), [POOL], fleet, clock=lambda: NOW)
    d = doc(action=action, runner="rf-runner-default-i-0abc")
    for path, value in changes:
        node: Any = d
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    body = json.dumps(d).encode()
    reply = proc.handle(headers(body, "d-prop"), body)
    assert reply.status in (200, 202, 400), reply.body
    if reply.status != 200:
        assert rows(proc) == [] and fleet.performed == []
    # whatever was stored, a good delivery for another job still works
    good = payload(job_id=999)
    assert proc.handle(headers(good, "d-good"), good).status == 200


# ---- the DynamoDB job table against moto: transitions, counters, calls per event --------
class Calls:
    """Counts AWS API calls made through clients it is attached to."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def since(self, mark: int) -> list[str]:
        return self.names[mark:]


def test_dynamo_job_table_transitions_counters_and_expiry() -> None:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "rf-control-plane")
        t = DynamoJobTable(ddb, "rf-control-plane")
        q = JobUpdate(1, "queued", ("self-hosted", "linux"), "acme/app", 5, NOW)
        assert t.transition(q, "default", "d-1", NOW).outcome == "recorded"
        assert t.transition(q, "default", "d-1", NOW).outcome == "duplicate"
        assert t.transition(q, "default", "d-1b", NOW).outcome == "unchanged"
        assert (t.pool("default").queued, t.pool("default").in_progress) == (1, 0)
        run = JobUpdate(1, "in_progress", q.labels, "acme/app", 5, NOW, "r-1")
        assert t.transition(run, "default", "d-2", NOW).outcome == "recorded"
        assert (t.pool("default").queued, t.pool("default").in_progress) == (0, 1)
        assert t.transition(q, "default", "d-3", NOW + 1).outcome == "unchanged"  # late queued
        done = JobUpdate(1, "completed", q.labels, "acme/app", 5, NOW, "r-1", NOW + 60)
        assert t.transition(done, "default", "d-4", NOW + 60).outcome == "recorded"
        # an in_progress for a job whose queued event was lost: counted from nothing
        lost = JobUpdate(2, "in_progress", ("gpu",), "acme/app", 6, NOW, "r-2")
        assert t.transition(lost, "gpu", "d-5", NOW).outcome == "recorded"
        assert (t.pool("default").in_progress, t.pool("gpu").in_progress) == (0, 1)
        # other items in the table (claims, a malformed row) are skipped by the scan
        ddb.put_item(TableName="rf-control-plane", Item={"pk": {"S": "registration#i-1"}})
        ddb.put_item(
            TableName="rf-control-plane",
            Item={"pk": {"S": "job#9"}, "kind": {"S": "job"}, "expires_at": {"N": str(2 * 10**9)}},
        )
        found, pools = t.scan(NOW + 61)
        assert [(u.job_id, u.status, u.runner_name, p) for u, p in found] == [
            (1, "completed", "r-1", "default"),
            (2, "in_progress", "r-2", "gpu"),
        ]
        assert set(pools) == {"default", "gpu"}
        assert [u.job_id for u, _ in t.scan(NOW + 60 + 3601)[0]] == [2]  # completed expire
        # counters are corrected only when no transition happened since they were read
        seq = t.pool("gpu").seq
        assert not t.correct_counters("gpu", 0, 0, seq - 1)
        assert t.correct_counters("gpu", 0, 0, seq)
        assert t.pool("gpu").in_progress == 0
        # a failed attempt released its delivery id: the redelivery is not a duplicate
        t.release("d-5")
        assert t.transition(lost, "gpu", "d-5", NOW).outcome == "unchanged"


@pytest.fixture
def aws_fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        region = "us-east-1"
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
        ssm = boto3.client("ssm", region_name=region)
        ssm.put_parameter(Name="/rf/github/webhook-secret", Value=SECRET, Type="SecureString")
        create_table(boto3.client("dynamodb", region_name=region), "rf-control-plane")
        ec2 = boto3.client("ec2", region_name=region)
        asg = boto3.client("autoscaling", region_name=region)
        lt = ec2.create_launch_template(
            LaunchTemplateName="rf-runner", LaunchTemplateData={"ImageId": "ami-12c6146b"}
        )["LaunchTemplate"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName="rf-default",
            MinSize=0,
            MaxSize=4,
            DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
            AvailabilityZones=[f"{region}a"],
            Tags=[
                {"Key": k, "Value": v, "PropagateAtLaunch": True}
                for k, v in {
                    "runnerfleet:fleet": "rf",
                    "runnerfleet:role": "runner",
                    "runnerfleet:pool": "default",
                }.items()
            ],
        )
        for key, value in {
            "RUNNERFLEET_NAME": "rf",
            "RUNNERFLEET_TABLE": "rf-control-plane",
            "RUNNERFLEET_MODE": "autoscaled",
            "RUNNERFLEET_POOL_LABELS": '{"default": []}',
        }.items():
            monkeypatch.setenv(key, value)
        entrypoints.reset()
        yield {"asg": asg, "ec2": ec2, "region": region}
        entrypoints.reset()


def _counted_processor(calls: Calls, fleet_clients: dict[str, Any]) -> WebhookProcessor:
    ddb = calls.attach(boto3.client("dynamodb", region_name="us-east-1"))
    asg = calls.attach(boto3.client("autoscaling", region_name="us-east-1"))
    ec2 = calls.attach(boto3.client("ec2", region_name="us-east-1"))
    return WebhookProcessor(
        SECRET,
        DynamoJobTable(ddb, "rf-control-plane"),
        [Pool("default", frozenset({"linux"}), 0, 4)],
        Fleet("rf", asg, ec2),
    )


def test_constant_work_per_event_counted_on_moto(aws_fleet: dict[str, Any]) -> None:
    """AWS calls per event do not grow with the table: no Scan, at most 2 calls before the
    launch call, and events that cannot change capacity do not run the scaler."""
    calls = Calls()
    proc = _counted_processor(calls, aws_fleet)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    old = DynamoJobTable(ddb, "rf-control-plane")
    for n in range(300):  # history: completed and open jobs of other pools
        u = JobUpdate(
            10_000 + n, "completed", ("linux",), "acme/app", 1, time.time(), "x", time.time()
        )
        old.transition(u, "default", None, time.time())
    first = payload(job_id=1)
    assert proc.handle(headers(first, "d-a"), first).status == 200  # caches the group view
    for i, job in enumerate(range(2, 5)):
        mark = len(calls.names)
        body = payload(job_id=job)
        reply = proc.handle(headers(body, f"d-q{i}"), body)
        assert reply.status == 200 and reply.body["actions"], reply.body
        made = calls.since(mark)
        launch = made.index("SetDesiredCapacity")
        assert launch <= 2, made  # TransactWriteItems, GetItem, then the launch call
        assert "Scan" not in made and "DescribeAutoScalingGroups" not in made
    mark = len(calls.names)
    busy = payload(job_id=3, action="in_progress", runner="rf-runner-default-i-0abc")
    proc.handle(headers(busy, "d-busy"), busy)
    assert calls.since(mark)[:2] == ["TransactWriteItems", "GetItem"]
    assert calls.since(mark)[2:] == ["SetInstanceProtection"]  # protect, nothing else
    mark = len(calls.names)
    done = payload(job_id=3, action="completed", runner="rf-runner-default-i-0abc")
    assert proc.handle(headers(done, "d-done"), done).status == 200
    assert calls.since(mark) == ["TransactWriteItems"]  # no scaler for a completion
    assert "Scan" not in calls.names
    group = aws_fleet["asg"].describe_auto_scaling_groups()["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 4
    assert not [t for t in group["Tags"] if "last-scale" in t["Key"]]  # nothing for Terraform


def test_a_failed_write_stores_nothing_and_the_redelivery_is_served(
    aws_fleet: dict[str, Any],
) -> None:
    calls = Calls()
    proc = _counted_processor(calls, aws_fleet)
    table = proc.jobs
    assert isinstance(table, DynamoJobTable)
    real = table.dynamodb.transact_write_items
    failures = [1]

    def flaky(**kw: Any) -> Any:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("injected: DynamoDB unreachable")
        return real(**kw)

    table.dynamodb.transact_write_items = flaky
    body = payload(job_id=41)
    with pytest.raises(RuntimeError, match="injected"):
        proc.handle(headers(body, "d-41"), body)
    assert jobs_of(table.scan(time.time())[0]) == []
    reply = proc.handle(headers(body, "d-41"), body)
    assert reply.status == 200 and reply.body["recorded"], reply.body
    assert (
        aws_fleet["asg"].describe_auto_scaling_groups()["AutoScalingGroups"][0]["DesiredCapacity"]
        == 1
    )


# ---- the Lambda entry --------------------------------------------------------------------
def test_lambda_handler_end_to_end_on_moto(aws_fleet: dict[str, Any]) -> None:
    asg = aws_fleet["asg"]
    body = payload(job_id=21)
    event = {
        "headers": {k.lower(): v for k, v in headers(body, "d-21").items()},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    out = entrypoints.webhook(event)
    assert out["statusCode"] == 200, out
    result = json.loads(out["body"])
    assert result["recorded"] and result["ok"], result
    group = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 1
    # the job is in the shared table; the delivery id too (dedupe across Lambdas)
    again = entrypoints.webhook({**event})
    assert json.loads(again["body"]) == {"ok": True, "duplicate": "d-21"}
    # an unsigned request is refused without detail leaking
    bad = entrypoints.webhook({"headers": {"x-github-event": "workflow_job"}, "body": "{}"})
    assert bad["statusCode"] == 401


def test_lambda_handler_hides_internal_errors(
    aws_fleet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNNERFLEET_MODE", "bogus")
    body = payload()
    out = entrypoints.webhook({"headers": headers(body), "body": body.decode()})
    assert out["statusCode"] == 500
    assert json.loads(out["body"])["error"] == "internal error; see the function's log"


def test_metric_datum_shape() -> None:
    d = queued_jobs_datum("rf", 3, NOW)
    assert (d["MetricName"], d["Value"], d["Unit"]) == ("QueuedJobs", 3.0, "Count")
    assert d["Dimensions"] == [{"Name": "Fleet", "Value": "rf"}]


class FakeGitHub:
    def __init__(self) -> None:
        self.asked: list[int] = []

    def list_runners(self, owner: str, repo: str | None = None) -> list[Any]:
        return []

    def get_job(self, owner: str, repo: str, job_id: int) -> Any:
        from datetime import UTC, datetime

        from runnerfleet.github.models import WorkflowJob

        self.asked.append(job_id)
        created = datetime.fromtimestamp(time.time() - 1000, UTC)
        return WorkflowJob(
            job_id, 5, "queued", None, ["self-hosted", "linux"], None, None, created, None, None
        )


def _plane_with(gh: Any, clients: Callable[[str], Any] | None = None) -> Any:
    from runnerfleet.controlplane.compose import compose
    from runnerfleet.controlplane.settings import ControlPlaneSettings

    settings = ControlPlaneSettings.from_env(dict(os.environ))

    def moto_clients(service: str) -> Any:
        # boto3-stubs types client() per literal service name; this one is a variable
        return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]

    return compose(settings, clients or moto_clients, github=gh)


def test_reconcile_lambda_heals_a_stale_queue(
    aws_fleet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    asg = aws_fleet["asg"]
    gh = FakeGitHub()
    monkeypatch.setenv("RUNNERFLEET_GITHUB_OWNER", "acme")
    entrypoints.reset(_plane_with(gh))
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    store = DynamoJobTable(ddb, "rf-control-plane")
    old = time.time() - 1000  # its queued webhook was handled, the scale-out was lost
    update = JobUpdate(31, "queued", ("self-hosted", "linux"), "acme/app", 5, old)
    store.transition(update, "default", None, old)
    result = entrypoints.reconcile({"source": "aws.events"})
    assert result["ok"], result
    kinds = [a["action"] for a in result["actions"]]
    assert kinds == ["RefreshJob", "SetDesiredCapacity"]
    assert gh.asked == [31]
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["DesiredCapacity"] == 1
    # the pass refreshed what the webhook path reads, and published the queue length
    view = store.pool("default")
    assert (view.asg_name, view.desired, view.queued) == ("rf-default", 1, 1)
    assert view.last_scale_out_at is not None
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    metrics = cw.list_metrics(Namespace=NAMESPACE, MetricName=QUEUED_JOBS)["Metrics"]
    assert metrics[0]["Dimensions"] == [{"Name": "Fleet", "Value": "rf"}]


def test_ephemeral_completion_lowers_the_cached_desired_so_the_next_job_scales_out() -> None:
    """An ephemeral host leaves with a decrement after its job: the next queued job must
    raise the group again, though the cached view said it already had that capacity."""
    fleet = FakeFleet()
    hot = Pool("default", frozenset({"linux", "x64"}), 0, 3, ephemeral=True)
    proc = WebhookProcessor(SECRET, MemoryJobTable(), [hot], fleet, clock=lambda: NOW)
    steps = [
        (11, "queued", None),
        (11, "in_progress", "rf-runner-default-i-0abc"),
        (11, "completed", "rf-runner-default-i-0abc"),
        (11, "completed", "rf-runner-default-i-0abc"),  # a second delivery: no second drop
        (12, "queued", None),
    ]
    for i, (job_id, action, runner) in enumerate(steps):
        body = payload(job_id=job_id, action=action, runner=runner)
        assert proc.handle(headers(body, f"d-{i}"), body).status == 200
    scaled = [a for a in fleet.performed if isinstance(a, SetDesiredCapacity)]
    assert scaled == [SetDesiredCapacity("default", 1), SetDesiredCapacity("default", 1)]
    assert proc.jobs.pool("default").desired == 1


def test_dynamo_host_left_never_goes_below_the_minimum() -> None:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "rf-control-plane")
        t = DynamoJobTable(ddb, "rf-control-plane")
        t.remember_group(
            "default", asg_name="rf-default", min_size=1, max_size=4, desired=2, now=NOW
        )
        t.host_left("default")
        assert t.pool("default").desired == 1
        t.host_left("default")  # at the minimum the host leaves without a decrement
        assert t.pool("default").desired == 1
        t.host_left("nope")  # no row: nothing to lower
        assert t.pool("nope").desired is None
