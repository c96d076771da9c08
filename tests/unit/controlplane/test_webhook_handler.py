"""Webhook processing: signature first, clear 4xx reasons, dedupe, job table, scaling, the
Lambda entry against moto (DynamoDB job table with conditional writes, ASG, SSM, CloudWatch),
and that no secret reaches a log line."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runnerfleet.controlplane import entrypoints
from runnerfleet.controlplane.fleet import GroupInfo, Outcome
from runnerfleet.controlplane.metrics import NAMESPACE, QUEUED_JOBS, queued_jobs_datum
from runnerfleet.controlplane.queue import (
    DynamoJobStore,
    JobUpdate,
    MemoryJobStore,
    create_table,
)
from runnerfleet.controlplane.scaler import Pool, ScalerAction, SetDesiredCapacity
from runnerfleet.controlplane.webhook_handler import WebhookProcessor
from runnerfleet.github.webhooks import InMemoryDedupe

SECRET = "s3cret-webhook-value-Zq9"
NOW = 1_800_000_000.0
POOL = Pool("default", frozenset({"linux", "x64"}), 0, 3)


def payload(
    job_id: int = 11,
    action: str = "queued",
    labels: list[str] | None = None,
    runner: str | None = None,
) -> bytes:
    body = {
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
    return json.dumps(body).encode()


def headers(
    body: bytes, delivery: str = "d-1", event: str = "workflow_job", secret: str = SECRET
) -> dict[str, str]:
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig}


@dataclass
class FakeFleet:
    desired: int = 0
    performed: list[ScalerAction] = field(default_factory=list)

    def groups(self) -> dict[str, GroupInfo]:
        return {"default": GroupInfo("rf-default", "default", 0, 2, self.desired)}

    def hosts(self, groups: Any = None) -> list[Any]:
        return []

    def execute(self, actions: list[ScalerAction], groups: Any, now: float) -> list[Outcome]:
        self.performed += actions
        return [Outcome(a, True, "done") for a in actions]


@pytest.fixture
def proc() -> WebhookProcessor:
    return WebhookProcessor(
        SECRET, InMemoryDedupe(), MemoryJobStore(), [POOL], FakeFleet(), clock=lambda: NOW
    )


def test_queued_job_is_recorded_and_scales_out_within_asg_bounds(proc: WebhookProcessor) -> None:
    body = payload()
    reply = proc.handle(headers(body), body)
    assert reply.status == 200, reply.body
    assert [j.id for j in proc.jobs.jobs(NOW)] == [11]
    # the pool says max 3, the ASG says max 2: the ASG's bounds win
    assert proc.fleet.performed == [SetDesiredCapacity("default", 1)]
    assert reply.body["actions"][0]["action"] == "SetDesiredCapacity"


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
    assert proc.jobs.jobs(NOW) == [] and proc.fleet.performed == []


def test_bad_bodies_and_headers_get_clear_400s(proc: WebhookProcessor) -> None:
    cases = {
        b"not json": "not JSON",
        json.dumps(
            {"action": "queued", "workflow_job": {"id": "x"}, "repository": {"full_name": "a/b"}}
        ).encode(): "must be integers",
        json.dumps(
            {"action": "queued", "workflow_job": {"id": 1, "run_id": 2}, "repository": {}}
        ).encode(): "repository.full_name",
    }
    for i, (body, reason) in enumerate(cases.items()):
        reply = proc.handle(headers(body, delivery=f"d-{i}"), body)
        assert reply.status == 400 and reason in reply.body["error"], reply.body
    body = payload()
    no_event = {k: v for k, v in headers(body).items() if k != "X-GitHub-Event"}
    assert proc.handle(no_event, body).status == 400
    no_delivery = {k: v for k, v in headers(body).items() if k != "X-GitHub-Delivery"}
    assert "X-GitHub-Delivery" in proc.handle(no_delivery, body).body["error"]
    big = b"x" * (25 * 1024 * 1024 + 1)
    assert proc.handle(headers(big), big).status == 413
    assert proc.jobs.jobs(NOW) == []


def test_ping_other_events_and_hosted_jobs_are_not_recorded(proc: WebhookProcessor) -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    assert proc.handle(headers(body, event="ping"), body).body == {"ok": True, "pong": True}
    assert proc.handle(headers(body, event="push"), body).status == 202
    hosted = payload(labels=["ubuntu-latest"])
    reply = proc.handle(headers(hosted), hosted)
    assert reply.status == 202 and "not for self-hosted" in reply.body["ignored"]
    requested = payload(action="requested")
    assert proc.handle(headers(requested, delivery="d-9"), requested).status == 202
    assert proc.jobs.jobs(NOW) == []


def test_duplicate_delivery_and_out_of_order_events(proc: WebhookProcessor) -> None:
    queued = payload()
    assert proc.handle(headers(queued, "d-1"), queued).body["recorded"] is True
    again = proc.handle(headers(queued, "d-1"), queued)
    assert again.body == {"ok": True, "duplicate": "d-1"}
    done = payload(action="completed", runner="rf-runner-1")
    assert proc.handle(headers(done, "d-3"), done).body["recorded"] is True
    late = payload(action="in_progress", runner="rf-runner-1")  # arrives after completed
    assert proc.handle(headers(late, "d-2"), late).body["recorded"] is False
    (job,) = proc.jobs.jobs(NOW)
    assert (job.status, job.runner_name) == ("completed", "rf-runner-1")


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="webhook secret is empty"):
        WebhookProcessor("", InMemoryDedupe(), MemoryJobStore(), [POOL])


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


# ---- DynamoDB job table (conditional writes) against moto -------------------------------
def test_dynamo_job_store_is_monotonic_and_expires() -> None:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "rf-control-plane")
        store = DynamoJobStore(ddb, "rf-control-plane")
        q = JobUpdate(1, "queued", ("self-hosted", "linux"), "acme/app", 5, NOW)
        assert store.record(q, NOW)
        assert store.record(JobUpdate(1, "in_progress", q.labels, "acme/app", 5, NOW, "r-1"), NOW)
        assert not store.record(q, NOW + 1)  # late redelivery of queued
        done = JobUpdate(1, "completed", q.labels, "acme/app", 5, NOW, "r-1", NOW + 60)
        assert store.record(done, NOW + 60)
        assert store.record(JobUpdate(2, "queued", ("gpu",), "acme/app", 6, NOW), NOW)
        # a claim item of the registrar in the same table is not a job
        ddb.put_item(TableName="rf-control-plane", Item={"pk": {"S": "registration#i-1"}})
        jobs = store.jobs(NOW + 61)
        assert [(j.id, j.status, j.runner_name, j.labels) for j in jobs] == [
            (1, "completed", "r-1", ("self-hosted", "linux")),
            (2, "queued", None, ("gpu",)),
        ]
        assert [j.id for j in store.jobs(NOW + 60 + 3601)] == [2]  # completed ones expire
        store.forget(2)
        assert [j.id for j in store.jobs(NOW)] == [1]


# ---- the Lambda entry --------------------------------------------------------------------
@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
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
        yield asg
        entrypoints.reset()


def test_lambda_handler_end_to_end_on_moto(lambda_env: Any) -> None:
    asg = lambda_env
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
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    metrics = cw.list_metrics(Namespace=NAMESPACE, MetricName=QUEUED_JOBS)["Metrics"]
    assert metrics[0]["Dimensions"] == [{"Name": "Fleet", "Value": "rf"}]
    # an unsigned request is refused without detail leaking
    bad = entrypoints.webhook({"headers": {"x-github-event": "workflow_job"}, "body": "{}"})
    assert bad["statusCode"] == 401


def test_lambda_handler_hides_internal_errors(
    lambda_env: Any, monkeypatch: pytest.MonkeyPatch
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


def test_reconcile_lambda_heals_a_stale_queue(
    lambda_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asg = lambda_env
    gh = FakeGitHub()
    monkeypatch.setenv("RUNNERFLEET_GITHUB_OWNER", "acme")
    from runnerfleet.controlplane.compose import compose
    from runnerfleet.controlplane.settings import ControlPlaneSettings

    settings = ControlPlaneSettings.from_env(dict(os.environ))
    entrypoints.reset(
        compose(settings, lambda s: boto3.client(s, region_name="us-east-1"), github=gh)
    )
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    store = DynamoJobStore(ddb, "rf-control-plane")
    old = time.time() - 1000  # its queued webhook was handled, the scale-out was lost
    store.record(JobUpdate(31, "queued", ("self-hosted", "linux"), "acme/app", 5, old), old)
    result = entrypoints.reconcile({"source": "aws.events"})
    assert result["ok"], result
    kinds = [a["action"] for a in result["actions"]]
    assert kinds == ["RefreshJob", "SetDesiredCapacity"]
    assert gh.asked == [31]
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["DesiredCapacity"] == 1
