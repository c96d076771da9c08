"""The registrar against the AWS emulator (moto, in-process) and the GitHub emulator.

Duplicate events give one parameter and one runner (also across two processes sharing the
DynamoDB claims); terminated instances lose their parameters; the App installation token is
fetched once per hour per process (asserted from the emulator's request log); and ASG
lifecycle completion is tested at the request level with botocore's Stubber, because moto does
not implement CompleteLifecycleAction for pending lifecycle actions. Org runners join the
runner group named in the settings; the registrar and reconcile entry points bound GitHub's
waits by the Lambda context's remaining time.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from runnerfleet.controlplane import entrypoints
from runnerfleet.controlplane.claims import DynamoClaims, MemoryClaims
from runnerfleet.controlplane.registrar import (
    InstanceEvent,
    LifecycleAction,
    Registrar,
    RegistrarSettings,
    decide,
)
from runnerfleet.github.client import AppAuth, GitHubClient, TokenAuth
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.permissions import required_permissions

OWNER, REPO = "acme", "app"
TOKEN_PATH = "POST /app/installations/{installation_id}/access_tokens"
_FLEETS = itertools.count(1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def aws() -> Iterator[Callable[[str], Any]]:
    """One in-process moto for the module; tests keep apart by fleet name. Built without
    moto's default images (the EC2 backend then starts in ~4 s instead of ~13 s)."""
    saved = {k: os.environ.get(k) for k in ("MOTO_EC2_LOAD_DEFAULT_AMIS", "AWS_DEFAULT_REGION")}
    os.environ.update(MOTO_EC2_LOAD_DEFAULT_AMIS="false", AWS_DEFAULT_REGION="us-east-1")
    with mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        made: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in made:
                # boto3-stubs types client() per literal service name; this one is a variable
                made[service] = session.client(service)  # type: ignore[call-overload]
            return made[service]

        client("ec2").describe_vpcs()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield client


@pytest.fixture
def fleet() -> str:
    return f"reg{next(_FLEETS)}x"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[GitHubEmulator]:
    emu = GitHubEmulator(clock=clock)
    emu.start()
    emu.add_installation(OWNER, permissions=required_permissions("repo"))  # REPO runners
    yield emu
    emu.stop()


def launch(ec2: Any, fleet: str, count: int) -> list[str]:
    ids = []
    for i in range(1, count + 1):
        resp = ec2.run_instances(
            ImageId="ami-0123456789abcdef0",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "runnerfleet:fleet", "Value": fleet},
                        {"Key": "runnerfleet:role", "Value": "runner"},
                        {"Key": "runnerfleet:pool", "Value": "static"},
                        {"Key": "runnerfleet:runner-name", "Value": f"{fleet}-runner-{i:02d}"},
                    ],
                }
            ],
        )
        ids.append(resp["Instances"][0]["InstanceId"])
    return ids


def registrar(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    fleet: str,
    *,
    ephemeral: bool = True,
    github: GitHubClient | None = None,
    claims: Any = None,
    autoscaling: Any = None,
) -> Registrar:
    settings = RegistrarSettings(
        name=fleet,
        owner=OWNER,
        repository=REPO,
        github_url=emulator.url,
        api_url=emulator.url,
        ephemeral=ephemeral,
    )
    return Registrar(
        settings=settings,
        ec2=aws("ec2"),
        ssm=aws("ssm"),
        github=github or GitHubClient(emulator.url, TokenAuth(emulator.pat), sleep=lambda _: None),
        claims=claims if claims is not None else MemoryClaims(),
        autoscaling=autoscaling if autoscaling is not None else aws("autoscaling"),
    )


def params(ssm: Any, fleet: str) -> list[str]:
    found = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Path", "Option": "OneLevel", "Values": [f"/{fleet}/runners"]}]
    )["Parameters"]
    return sorted(p["Name"] for p in found)


def test_duplicate_events_give_one_parameter_and_one_runner(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    [iid] = launch(aws("ec2"), fleet, 1)
    reg = registrar(aws, emulator, fleet)
    events = [InstanceEvent(iid, state="pending"), InstanceEvent(iid, state="running")]
    before = emulator.call_counts()
    first = reg.handle(events + events)
    assert [type(o.action).__name__ for o in first.outcomes] == ["Issue"]
    made = {k: v - before.get(k, 0) for k, v in emulator.call_counts().items()}
    made = {k: v for k, v in made.items() if v and "access_tokens" not in k}
    assert made == {"POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig": 1}, made
    assert reg.handle(events).outcomes == []
    assert reg.run_once().outcomes == []
    assert params(aws("ssm"), fleet) == [f"/{fleet}/runners/{iid}"]
    assert [r.name for r in emulator.runners(OWNER, REPO)] == [f"{fleet}-runner-01"]
    value = aws("ssm").get_parameter(Name=f"/{fleet}/runners/{iid}", WithDecryption=True)
    assert value["Parameter"]["Type"] == "SecureString"
    body = json.loads(value["Parameter"]["Value"])
    assert body["kind"] == "jit" and body["runner_name"] == f"{fleet}-runner-01"
    tags = aws("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    assert {"runnerfleet:github-runner-id"} <= {t["Key"] for t in tags}


def test_two_processes_racing_on_one_instance_issue_once(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    ddb = aws("dynamodb")
    table = f"{fleet}-control-plane"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    [iid] = launch(aws("ec2"), fleet, 1)
    a = registrar(aws, emulator, fleet, claims=DynamoClaims(ddb, table))
    b = registrar(aws, emulator, fleet, claims=DynamoClaims(ddb, table))
    # both gathered their facts before either acted: the conditional claim decides
    event = [InstanceEvent(iid, state="running")]
    facts_b = b.gather(event, scan=False)
    assert a.handle(event).ok
    [issue] = decide(event, facts_b, b.settings, scan=False)
    detail = b._execute(issue, facts_b)
    assert detail == "already issued by another invocation"
    assert params(aws("ssm"), fleet) == [f"/{fleet}/runners/{iid}"]
    assert len(emulator.runners(OWNER, REPO)) == 1


def test_persistent_fleet_gets_a_registration_token_with_the_url(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    [iid] = launch(aws("ec2"), fleet, 1)
    assert registrar(aws, emulator, fleet, ephemeral=False).run_once().ok
    value = aws("ssm").get_parameter(Name=f"/{fleet}/runners/{iid}", WithDecryption=True)
    body = json.loads(value["Parameter"]["Value"])
    assert body["kind"] == "token" and body["url"] == f"{emulator.url}/{OWNER}/{REPO}"
    assert emulator.runners(OWNER, REPO) == []  # config.sh on the host creates the runner


def test_instance_events_cost_no_github_call_and_the_reconciler_cleans_up(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    """GitHub calls per instance event do not depend on how many runners exist: the
    registrar never lists runners for an event; the reconciler's pass owns the cleanup."""
    from runnerfleet.controlplane.fleet import Fleet
    from runnerfleet.controlplane.job_table import MemoryJobTable
    from runnerfleet.controlplane.reconciler import Reconciler, ReconcilerSettings
    from runnerfleet.controlplane.scaler import Pool
    from runnerfleet.controlplane.ssm_store import RegistrationStore

    ec2, ssm = aws("ec2"), aws("ssm")
    ids = launch(ec2, fleet, 2)
    reg = registrar(aws, emulator, fleet)
    assert reg.run_once().ok
    assert len(params(ssm, fleet)) == 2
    ec2.terminate_instances(InstanceIds=[ids[0]])
    before = sum(emulator.call_counts().values())
    report = reg.handle([InstanceEvent(ids[0], state="terminated")])
    assert report.ok
    assert [type(o.action).__name__ for o in report.outcomes] == ["DeleteParameter", "Forget"]
    assert sum(emulator.call_counts().values()) == before  # no GitHub call for the event
    assert params(ssm, fleet) == [f"/{fleet}/runners/{ids[1]}"]  # its unread secret is gone
    ssm.put_parameter(Name=f"/{fleet}/runners/i-0gone", Value="{}", Type="SecureString")
    rec = Reconciler(
        settings=ReconcilerSettings(fleet, parameter_grace=0),
        pools=[Pool("default", frozenset())],
        fleet=Fleet(fleet, aws("autoscaling"), ec2),
        github=reg.github,
        owner=OWNER,
        repository=REPO,
        registrations=RegistrationStore(ssm, f"/{fleet}/runners"),
        jobs=MemoryJobTable(),
    )
    _, outcomes = rec.run()
    assert all(o.ok for o in outcomes), [o.as_dict() for o in outcomes]
    assert params(ssm, fleet) == [f"/{fleet}/runners/{ids[1]}"]
    assert [r.name for r in emulator.runners(OWNER, REPO)] == [f"{fleet}-runner-02"]


def test_jit_5xx_is_retried_without_leaving_two_runners(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    [iid] = launch(aws("ec2"), fleet, 1)
    emulator.inject("/repos/*/actions/runners/generate-jitconfig", "5xx", times=1, phase="after")
    assert registrar(aws, emulator, fleet).run_once().ok
    assert [r.name for r in emulator.runners(OWNER, REPO)] == [f"{fleet}-runner-01"]
    assert params(aws("ssm"), fleet) == [f"/{fleet}/runners/{iid}"]


def test_app_installation_token_fetched_once_per_hour_per_process(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str, clock: Clock
) -> None:
    github = GitHubClient(
        emulator.url,
        AppAuth(emulator.app_id, emulator.app_private_key_pem),
        clock=clock,
        sleep=clock.sleep,
    )
    reg = registrar(aws, emulator, fleet, github=github)
    ids = launch(aws("ec2"), fleet, 6)
    for iid in ids[:5]:  # five events over 50 minutes
        assert reg.handle([InstanceEvent(iid, state="running")]).ok
        clock.now += 600
    assert emulator.call_counts()[TOKEN_PATH] == 1
    clock.now += 3600  # the cached token has expired
    assert reg.handle([InstanceEvent(ids[5], state="running")]).ok
    assert emulator.call_counts()[TOKEN_PATH] == 2
    assert len(emulator.runners(OWNER, REPO)) == 6


def test_lambda_handler_reuses_one_registrar_per_process(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    fleet: str,
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
) -> None:
    """Credentials come from SSM /<name>/github/*; two invocations share one token fetch."""
    clock.now = time.time()  # the handler's client runs on the real clock
    ssm = aws("ssm")
    ssm.put_parameter(Name=f"/{fleet}/github/app-id", Value=emulator.app_id, Type="String")
    ssm.put_parameter(
        Name=f"/{fleet}/github/private-key",
        Value=emulator.app_private_key_pem,
        Type="SecureString",
    )
    env = {
        "RUNNERFLEET_NAME": fleet,
        "RUNNERFLEET_GITHUB_OWNER": OWNER,
        "RUNNERFLEET_GITHUB_REPOSITORY": REPO,
        "RUNNERFLEET_GITHUB_URL": emulator.url,
        "RUNNERFLEET_GITHUB_API_URL": emulator.url,
        "RUNNERFLEET_EPHEMERAL": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    entrypoints.reset()
    ids = launch(aws("ec2"), fleet, 2)
    try:
        for iid in ids:
            event = {
                "detail-type": "EC2 Instance State-change Notification",
                "detail": {"instance-id": iid, "state": "running"},
            }
            result = entrypoints.registrar(event)
            assert [a["action"] for a in result["actions"]] == ["Issue"]
        assert entrypoints.registrar({"detail-type": "Scheduled Event"})["actions"] == []
    finally:
        entrypoints.reset()
    assert emulator.call_counts()[TOKEN_PATH] == 1
    assert len(params(ssm, fleet)) == 2


def test_launch_lifecycle_completion_at_the_request_level(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    """moto does not implement completing pending ASG lifecycle actions, so the
    CompleteLifecycleAction request is checked with botocore's Stubber instead."""
    [iid] = launch(aws("ec2"), fleet, 1)
    asg = boto3.client("autoscaling", region_name="us-east-1")
    lc = LifecycleAction(
        "launching", f"{fleet}-default", f"{fleet}-launch", "bcd2f1b8-9a78-4ef2-9d31-9cca3c5b2a6e"
    )
    with Stubber(asg) as stub:
        stub.add_response(
            "complete_lifecycle_action",
            {},
            {
                "LifecycleHookName": f"{fleet}-launch",
                "AutoScalingGroupName": f"{fleet}-default",
                "LifecycleActionResult": "CONTINUE",
                "InstanceId": iid,
                "LifecycleActionToken": "bcd2f1b8-9a78-4ef2-9d31-9cca3c5b2a6e",
            },
        )
        reg = registrar(aws, emulator, fleet, autoscaling=asg)
        report = reg.handle([InstanceEvent(iid, lifecycle=lc), InstanceEvent(iid, lifecycle=lc)])
        stub.assert_no_pending_responses()
    assert [type(o.action).__name__ for o in report.outcomes] == ["Issue", "CompleteLifecycle"]
    assert report.ok


def test_lifecycle_is_not_completed_when_registration_fails(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    """Stubber with no queued response: any CompleteLifecycleAction call would raise."""
    [iid] = launch(aws("ec2"), fleet, 1)
    asg = boto3.client("autoscaling", region_name="us-east-1")
    emulator.inject("/repos/*/actions/runners/generate-jitconfig", "5xx", times=20)
    github = GitHubClient(
        emulator.url, TokenAuth(emulator.pat), sleep=lambda _: None, max_retries=1
    )
    lc = LifecycleAction("launching", f"{fleet}-default", f"{fleet}-launch", "tok")
    with Stubber(asg):
        reg = registrar(aws, emulator, fleet, autoscaling=asg, github=github)
        report = reg.handle([InstanceEvent(iid, lifecycle=lc)])
    assert not report.ok
    assert [(type(o.action).__name__, o.ok) for o in report.outcomes] == [
        ("Issue", False),
        ("CompleteLifecycle", False),
    ]
    assert params(aws("ssm"), fleet) == []
    assert not reg.claims.claimed(iid)  # released, so the next event or scan retries


def test_dynamo_claims_expire_in_minutes(aws: Callable[[str], Any], fleet: str) -> None:
    from runnerfleet.controlplane.claims import CLAIM_TTL_SECONDS
    from runnerfleet.controlplane.job_table import create_table

    ddb = aws("dynamodb")
    create_table(ddb, f"{fleet}-claims")
    now = [1_800_000_000.0]
    claims = DynamoClaims(ddb, f"{fleet}-claims", clock=lambda: now[0])
    assert claims.claim("i-1", "r") and claims.claimed("i-1")
    assert not claims.claim("i-1", "r")  # held by another invocation
    now[0] += CLAIM_TTL_SECONDS + 1  # the holder died (a Lambda timeout): it expires
    assert not claims.claimed("i-1")  # before DynamoDB's TTL sweep removes the item
    assert claims.claim("i-1", "r")


def test_org_runners_join_the_runner_group_named_in_the_settings(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    """[github] runner_group is a name: resolved to its id once per process, sent with each
    JIT registration; a group that does not exist fails the Issue, naming the group, and
    leaves no parameter and no claim behind."""
    groups = "GET /orgs/{org}/actions/runner-groups"
    emulator.add_runner_group(OWNER, "other")
    gid = emulator.add_runner_group(OWNER, "ci builders")
    github = GitHubClient(emulator.url, TokenAuth(emulator.pat), sleep=lambda _: None)

    def org_registrar(group: str) -> Registrar:
        settings = RegistrarSettings(
            name=fleet,
            owner=OWNER,
            repository=None,
            github_url=emulator.url,
            api_url=emulator.url,
            ephemeral=True,
            runner_group=group,
        )
        return Registrar(
            settings=settings,
            ec2=aws("ec2"),
            ssm=aws("ssm"),
            github=github,
            claims=MemoryClaims(),
            autoscaling=aws("autoscaling"),
        )

    ids = launch(aws("ec2"), fleet, 3)
    reg = org_registrar("ci builders")
    assert reg.handle([InstanceEvent(ids[0], state="running")]).ok
    looked_up = emulator.call_counts().get(groups, 0)
    assert looked_up >= 1
    assert reg.handle([InstanceEvent(ids[1], state="running")]).ok
    assert emulator.call_counts().get(groups, 0) == looked_up  # cached in the client
    mine = [r for r in emulator.runners(OWNER) if r.name.startswith(f"{fleet}-")]
    assert sorted(r.name for r in mine) == [f"{fleet}-runner-01", f"{fleet}-runner-02"]
    assert {r.runner_group_id for r in mine} == {gid} and gid != 1

    missing = org_registrar("nightly")
    report = missing.handle([InstanceEvent(ids[2], state="running")])
    [outcome] = report.outcomes
    assert not outcome.ok and "'nightly'" in outcome.detail and "'ci builders'" in outcome.detail
    assert f"/{fleet}/runners/{ids[2]}" not in params(aws("ssm"), fleet)
    assert not missing.claims.claimed(ids[2])


class LambdaContext:
    """The part of Lambda's context the entry points read: the time left, in milliseconds."""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def _forbid_sleep(seconds: float) -> None:
    raise AssertionError(f"the GitHub client slept {seconds} s past the Lambda deadline")


def _budget_plane(aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str) -> Any:
    from runnerfleet.controlplane.compose import compose
    from runnerfleet.controlplane.settings import ControlPlaneSettings

    settings = ControlPlaneSettings(
        name=fleet,
        github_owner=OWNER,
        github_repository=REPO,
        github_url=emulator.url,
        github_api_url=emulator.url,
        ephemeral=True,
    )
    github = GitHubClient(emulator.url, TokenAuth(emulator.pat), sleep=_forbid_sleep)
    return compose(settings, aws, github=github)


def test_registrar_invocation_with_no_time_left_fails_fast_and_the_next_one_works(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    """The registrar function bounds GitHub by the Lambda context: with less time left than
    the reserve, the JIT call is not even sent (BudgetExceeded), the invocation raises (the
    event is retried) and nothing is left behind; the next invocation has its own deadline."""
    jit = "POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig"
    [iid] = launch(aws("ec2"), fleet, 1)
    plane = _budget_plane(aws, emulator, fleet)
    event = {
        "detail-type": "EC2 Instance State-change Notification",
        "detail": {"instance-id": iid, "state": "running"},
    }
    entrypoints.reset(plane)
    try:
        with pytest.raises(RuntimeError, match="registrar actions failed") as exc:
            entrypoints.registrar(event, LambdaContext(millis=1500))
        assert "BudgetExceeded" in str(exc.value)  # RetryBudgetExceeded, in the outcome
        assert "deadline" in str(exc.value)
        assert emulator.call_counts().get(jit, 0) == 0
        assert params(aws("ssm"), fleet) == [] and not plane.registrar.claims.claimed(iid)
        result = entrypoints.registrar(event, LambdaContext(millis=600_000))
    finally:
        entrypoints.reset()
    assert [a["action"] for a in result["actions"]] == ["Issue"] and result["ok"]
    assert emulator.call_counts()[jit] == 1


def test_reconcile_invocation_does_not_wait_out_a_retry_after_beyond_its_deadline(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str
) -> None:
    """GitHub asks for 60 s (secondary rate limit) with 30 s left in the function: the
    reconcile pass raises RateLimitBudgetExceeded at once, naming the wait, and never sleeps."""
    from runnerfleet.github.errors import BudgetExceeded

    emulator.inject("/repos/*/actions/runners", "secondary_rate_limit", times=1, retry_after=60)
    entrypoints.reset(_budget_plane(aws, emulator, fleet))
    try:
        with pytest.raises(BudgetExceeded) as exc:
            entrypoints.reconcile({"detail-type": "Scheduled Event"}, LambdaContext(30_000))
    finally:
        entrypoints.reset()
    assert exc.value.requested_wait == 60
    assert "deadline" in str(exc.value)
