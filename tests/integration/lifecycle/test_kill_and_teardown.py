# ruff: noqa: E501
"""A killed `up` recovers; `down --keep-sandbox` leaves nothing of the fleet (real terraform).

One sandbox session in a fresh project folder, through the installed `runnerfleet` CLI:

1. `runnerfleet up` is killed with SIGKILL while terraform applies (terraform stops cleanly and
   releases the state lock); the next `up` is killed with SIGKILL together with terraform
   itself (the lock stays held, resources created since the last state write are in AWS only);
   between the two, `down` after the failed first `up` exits 0 and leaves nothing;
2. the procedure of docs/operations.md ("Force-unlock") is followed: `state lock --json`
   names the lock, `state unlock LOCK_ID` removes it;
3. the next `up` exits 0, the fleet's instances run, and no terraform or provider process of
   this project is left; a further `up` finds nothing to change and keeps the (ephemeral,
   static) hosts and their online runners;
4. `down --keep-sandbox` exits 0 and the emulator holds no resource of the fleet, of any type
   the stack and the control plane create (the test fails on a type it cannot list);
5. a second `down` exits 0 and says there is nothing to destroy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runnerfleet.sandbox import Sandbox

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]

NAME = "rfkill"
COMMAND_TIMEOUT_S = 900  # generous: the machine is shared
CONFIG = f"""\
name = "{NAME}"

[runners]
mode = "static"
count = 2
ephemeral = true
"""


def _env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNNERFLEET_"))}
    env.update(
        AWS_CONFIG_FILE=str(project / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(project / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        # The boot model's simulated cloud-init (20 s by default) shortened: this test checks
        # commands and their results, not how long a host takes to boot.
        RUNNERFLEET_SANDBOX_BOOT_SECONDS="2",
        NO_COLOR="1",
        COLUMNS="200",
    )
    return env


def _cli() -> str:
    exe = shutil.which("runnerfleet")
    if exe is None:
        pytest.fail("the `runnerfleet` console script is not on PATH; run `pip install -e .`")
    return exe


_RUNS: list[str] = []


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    _RUNS.append(args[0])
    stem = project.parent / f"{len(_RUNS):02d}-{'-'.join(a for a in args if a.isalpha())}"
    out, err = stem.with_suffix(".out"), stem.with_suffix(".err")  # one pair per command
    with out.open("wb") as o, err.open("wb") as e:  # files: background processes hold pipes
        proc = subprocess.run([_cli(), *args], cwd=project, env=_env(project), input=b"y\n",
                              stdout=o, stderr=e, timeout=COMMAND_TIMEOUT_S, check=False)  # fmt: skip
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, out.read_text(errors="replace"), err.read_text(errors="replace")
    )


def ok(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run(project, *args)
    assert proc.returncode == 0, (
        f"{args} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    )
    return proc


def project_processes(project: Path) -> list[str]:
    """terraform / provider processes whose working folder is inside the project."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cwd = os.readlink(proc / "cwd")
            argv0 = (proc / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
        except OSError:
            continue
        if Path(argv0).name.startswith("terraform") and cwd.startswith(str(project)):
            found.append(f"{proc.name} {argv0}")
    return found


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


# ---- everything of the fleet in the emulator, by type -----------------------------------
def _names(items: list[dict[str, Any]], key: str) -> list[str]:
    return [str(i[key]) for i in items if NAME in str(i[key])]


def _tagged(items: list[dict[str, Any]], key: str, tags: str = "Tags") -> list[str]:
    out = []
    for i in items:
        t = {x["Key"]: x["Value"] for x in i.get(tags) or []}
        if t.get("runnerfleet:fleet") == NAME:
            out.append(str(i[key]))
    return out


def listers(c: Callable[[str], Any]) -> dict[str, Callable[[], list[str]]]:
    """Terraform resource type -> what of the fleet the emulator still holds of it."""
    ec2, iam = c("ec2"), c("iam")

    def instances() -> list[str]:
        res = ec2.describe_instances()["Reservations"]
        return _tagged([i for r in res for i in r["Instances"]
                        if i["State"]["Name"] != "terminated"], "InstanceId")  # fmt: skip

    def roles() -> list[str]:
        return _names(iam.list_roles()["Roles"], "RoleName")

    def role_policies() -> list[str]:
        return [
            f"{r}:{p}" for r in roles() for p in iam.list_role_policies(RoleName=r)["PolicyNames"]
        ]

    def params() -> list[str]:
        pages = c("ssm").get_paginator("describe_parameters").paginate()
        return [
            p["Name"]
            for page in pages
            for p in page["Parameters"]
            if p["Name"].startswith(f"/{NAME}/")
        ]

    def buckets() -> list[str]:
        return [b["Name"] for b in c("s3").list_buckets()["Buckets"]
                if b["Name"].startswith(f"{NAME}-") and "-tfstate-" not in b["Name"]]  # fmt: skip

    def kms_keys() -> list[str]:
        out = []
        for k in c("kms").list_keys()["Keys"]:
            meta = c("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"]
            tags = c("kms").list_resource_tags(KeyId=k["KeyId"]).get("Tags", [])
            fleet = any(t["TagKey"] == "runnerfleet:fleet" and t["TagValue"] == NAME for t in tags)
            if fleet and meta["KeyState"] not in ("PendingDeletion", "Disabled"):
                out.append(k["KeyId"])
        return out

    s3_bucket = buckets
    return {
        "aws_vpc": lambda: _tagged(ec2.describe_vpcs()["Vpcs"], "VpcId"),
        "aws_subnet": lambda: _tagged(ec2.describe_subnets()["Subnets"], "SubnetId"),
        "aws_internet_gateway": lambda: _tagged(ec2.describe_internet_gateways()["InternetGateways"], "InternetGatewayId"),
        "aws_nat_gateway": lambda: _tagged([n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] not in ("deleted", "deleting")], "NatGatewayId"),
        "aws_eip": lambda: _tagged(ec2.describe_addresses()["Addresses"], "AllocationId"),
        "aws_route_table": lambda: _tagged(ec2.describe_route_tables()["RouteTables"], "RouteTableId"),
        "aws_security_group": lambda: _tagged(ec2.describe_security_groups()["SecurityGroups"], "GroupId"),
        "aws_vpc_endpoint": lambda: _tagged([e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"].lower() not in ("deleted", "deleting")], "VpcEndpointId"),
        "aws_flow_log": lambda: _tagged(ec2.describe_flow_logs()["FlowLogs"], "FlowLogId"),
        "aws_instance": instances,
        "aws_launch_template": lambda: _names(ec2.describe_launch_templates()["LaunchTemplates"], "LaunchTemplateName"),
        "aws_autoscaling_group": lambda: _names(c("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"], "AutoScalingGroupName"),
        "aws_iam_role": roles,
        "aws_iam_role_policy": role_policies,
        "aws_iam_instance_profile": lambda: _names(iam.list_instance_profiles()["InstanceProfiles"], "InstanceProfileName"),
        "aws_iam_policy": lambda: _names(iam.list_policies(Scope="Local")["Policies"], "PolicyName"),
        "aws_iam_role_policy_attachment": lambda: [f"{r}/{a['PolicyArn']}" for r in roles() for a in iam.list_attached_role_policies(RoleName=r)["AttachedPolicies"]],
        "aws_cloudwatch_log_group": lambda: _names(c("logs").describe_log_groups()["logGroups"], "logGroupName"),
        "aws_cloudwatch_dashboard": lambda: _names(c("cloudwatch").list_dashboards()["DashboardEntries"], "DashboardName"),
        "aws_cloudwatch_metric_alarm": lambda: _names(c("cloudwatch").describe_alarms()["MetricAlarms"], "AlarmName"),
        "aws_ssm_parameter": params,
        "aws_dynamodb_table": lambda: [t for t in c("dynamodb").list_tables()["TableNames"] if t.startswith(f"{NAME}-") and not t.endswith("-tflock")],
        "aws_lambda_function": lambda: _names(c("lambda").list_functions()["Functions"], "FunctionName"),
        "aws_sqs_queue": lambda: [u for u in c("sqs").list_queues().get("QueueUrls", []) if NAME in u],
        "aws_cloudwatch_event_rule": lambda: _names(c("events").list_rules()["Rules"], "Name"),
        "aws_sns_topic": lambda: [t["TopicArn"] for t in c("sns").list_topics()["Topics"] if NAME in t["TopicArn"]],
        "aws_kms_key": kms_keys,
        "aws_kms_alias": lambda: _names(c("kms").list_aliases()["Aliases"], "AliasName"),
        "aws_s3_bucket": s3_bucket,
        "aws_secretsmanager_secret": lambda: _names(c("secretsmanager").list_secrets()["SecretList"], "Name"),
    }  # fmt: skip


# Types that exist only as part of another resource, or never outlive it: listing the
# parent covers them (each named with the parent whose listing shows it).
PART_OF = {
    "aws_route": "aws_route_table", "aws_route_table_association": "aws_route_table",
    "aws_vpc_endpoint_route_table_association": "aws_vpc_endpoint",
    "aws_vpc_security_group_egress_rule": "aws_security_group",
    "aws_vpc_security_group_ingress_rule": "aws_security_group",
    "aws_security_group_rule": "aws_security_group",
    "aws_lambda_permission": "aws_lambda_function",
    "aws_lambda_function_url": "aws_lambda_function",
    "aws_lambda_event_source_mapping": "aws_lambda_function",
    "aws_lambda_function_event_invoke_config": "aws_lambda_function",
    "aws_cloudwatch_event_target": "aws_cloudwatch_event_rule",
    "aws_sqs_queue_policy": "aws_sqs_queue", "aws_sqs_queue_redrive_policy": "aws_sqs_queue",
    "aws_sns_topic_policy": "aws_sns_topic", "aws_sns_topic_subscription": "aws_sns_topic",
    "aws_s3_bucket_public_access_block": "aws_s3_bucket",
    "aws_s3_bucket_server_side_encryption_configuration": "aws_s3_bucket",
    "aws_s3_bucket_ownership_controls": "aws_s3_bucket",
    "aws_s3_bucket_versioning": "aws_s3_bucket", "aws_s3_bucket_policy": "aws_s3_bucket",
    "aws_s3_bucket_lifecycle_configuration": "aws_s3_bucket", "aws_s3_object": "aws_s3_bucket",
    "aws_autoscaling_lifecycle_hook": "aws_autoscaling_group",
    "aws_autoscaling_policy": "aws_autoscaling_group",
    "aws_autoscaling_schedule": "aws_autoscaling_group",
    "aws_autoscaling_group_tag": "aws_autoscaling_group",
    "aws_secretsmanager_secret_version": "aws_secretsmanager_secret",
    "aws_kms_key_policy": "aws_kms_key",
    "aws_default_security_group": "aws_vpc",  # the VPC's own group: goes with the VPC
}  # fmt: skip


def state_types(project: Path) -> set[str]:
    from runnerfleet import config
    from runnerfleet.sandbox import SANDBOX_ACCOUNT_ID, Sandbox

    cfg = config.load(project / "runnerfleet.toml", environ={})
    box = Sandbox(project / ".runnerfleet", region=cfg.aws.region)
    body = box.client("s3").get_object(Bucket=cfg.state_bucket(SANDBOX_ACCOUNT_ID),
                                       Key=cfg.backend.key)["Body"].read()  # fmt: skip
    state = json.loads(body)
    return {r["type"] for r in state.get("resources", []) if r.get("mode") == "managed"}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    proj = tmp_path / "fleet"
    proj.mkdir()
    (proj / "runnerfleet.toml").write_text(CONFIG)
    yield proj
    box = Sandbox(proj / ".runnerfleet")
    if box.running() and proj not in _CLEAN:  # a failed test: take the fleet down
        run(proj, "down", "--yes")
    box.stop()


_CLEAN: list[Path] = []  # projects whose test ended with everything destroyed


def start_up(project: Path, tag: str) -> tuple[subprocess.Popen[bytes], Path]:
    err = project.parent / f"{tag}.err"
    with (project.parent / f"{tag}.out").open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([_cli(), "up", "--sandbox", "--yes"], cwd=project,
                                env=_env(project), stdin=subprocess.DEVNULL, stdout=o, stderr=e)  # fmt: skip
    return proc, err


def wait_for_creations(proc: subprocess.Popen[bytes], err: Path, count: int) -> None:
    """Until terraform apply has created `count` resources; fails if `up` ends first."""

    def applied() -> int:
        text = err.read_text(errors="replace")
        return text.split("terraform apply", 1)[-1].count("Creation complete") if (
            "terraform apply" in text) else 0  # fmt: skip

    wait_until(lambda: applied() >= count or proc.poll() is not None, COMMAND_TIMEOUT_S,
               f"apply to create {count} resources")  # fmt: skip
    assert proc.poll() is None, f"up ended before it could be killed:\n{err.read_text()[-3000:]}"


def terraform_cores(project: Path) -> list[int]:
    """pids of this project's terraform processes (not its providers)."""
    return [int(p.split()[0]) for p in project_processes(project)
            if Path(p.split(maxsplit=1)[1]).name == "terraform"]  # fmt: skip


def test_killed_up_converges_and_down_leaves_nothing(project: Path) -> None:
    # 1a. up, SIGKILLed during apply: terraform gets SIGTERM with its parent gone, stops
    # cleanly, writes its state and releases the state lock; nothing of it may stay.
    first, err = start_up(project, "up1")
    try:
        wait_for_creations(first, err, 8)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    wait_until(lambda: not project_processes(project), 300, "terraform to stop after the kill")
    lock = json.loads(ok(project, "state", "lock", "--json").stdout)
    assert lock["held"] is False, f"terraform stopped cleanly but left its lock: {lock}"
    table = listers(Sandbox(project / ".runnerfleet").client)
    assert any(lister() for lister in table.values()), "the killed up created nothing"

    # 1c. down after that failed up: exit 0, nothing of the partial fleet is left.
    ok(project, "down", "--yes", "--keep-sandbox")
    left = {t: found for t, lister in table.items() if (found := lister())}
    assert not left, f"left behind by down after a failed up: {left}"

    # 1b. the next up, SIGKILLed together with terraform itself (a killed job container, the
    # OOM killer): the state lock stays held, what terraform created since it last wrote the
    # state is in AWS only, and its provider processes may outlive it.
    second_try, err = start_up(project, "up2")
    try:
        wait_for_creations(second_try, err, 10)
        cores = terraform_cores(project)
        assert cores, f"no terraform process to kill: {project_processes(project)}"
        for pid in cores:  # terraform first: the CLI's death would send it SIGTERM
            os.kill(pid, signal.SIGKILL)
        second_try.send_signal(signal.SIGKILL)
        second_try.wait(timeout=60)
    finally:
        if second_try.poll() is None:
            second_try.kill()

    # 2. docs/operations.md, Force-unlock: look at the lock and remove exactly that one.
    lock = json.loads(ok(project, "state", "lock", "--json").stdout)
    holder = lock.get("dynamodb") or lock.get("s3")
    assert lock["held"] and holder, f"a SIGKILLed terraform left no lock: {lock}"
    ok(project, "state", "unlock", str(holder["id"]))
    assert json.loads(ok(project, "state", "lock", "--json").stdout)["held"] is False

    # 3. the next up converges.
    second = ok(project, "up", "--sandbox", "--yes", "--json")
    assert json.loads(second.stdout)["target"] == "sandbox"
    status = json.loads(ok(project, "status", "--json").stdout)
    running = [i for i in status["instances"] if i["state"] in ("pending", "running")]
    assert len(running) == 2, status["instances"]
    assert project_processes(project) == [], "terraform/provider processes left behind"

    # 3b. ephemeral static hosts survive a no-change up (they used to be terminated): the
    # same instances keep running and no runner that was online goes offline.
    before = {i["id"] for i in running}
    online_before = {r["name"] for r in status["runners"] if r["status"] == "online"}
    third = ok(project, "up", "--sandbox", "--yes")
    assert "No changes." in third.stderr, (
        f"the recovered fleet still wants changes:\n{third.stderr}"
    )
    status = json.loads(ok(project, "status", "--json").stdout)
    after = {i["id"] for i in status["instances"] if i["state"] in ("pending", "running")}
    assert after == before, f"a no-change up replaced or stopped hosts: {before} -> {after}"
    online_after = {r["name"] for r in status["runners"] if r["status"] == "online"}
    assert online_before <= online_after, f"runners went offline: {status['runners']}"

    # 4. down --keep-sandbox: nothing of the fleet, of any type, remains.
    types = state_types(project)
    ok(project, "down", "--yes", "--keep-sandbox")
    unlisted = {t for t in types if t not in table and PART_OF.get(t) not in table}
    assert not unlisted, f"the stack creates types this test cannot list: {sorted(unlisted)}"
    left = {t: found for t, lister in table.items() if (found := lister())}
    assert not left, f"left behind after down: {left}"
    assert project_processes(project) == []

    # 5. down again: nothing to do, exit 0, says so.
    again = ok(project, "down", "--yes", "--keep-sandbox")
    assert "nothing to destroy" in again.stdout
    _CLEAN.append(project)
