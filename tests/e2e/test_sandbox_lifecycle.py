"""End to end: `up`, `up` again, `status` and `down` in the sandbox, as a user runs them.

Real terraform, real S3 backend with locking, the moto AWS emulator and the GitHub emulator;
nothing is mocked in-process. Each test is one full fleet life, so they are slow (1-2 min).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sandbox_project import Project

from runnerfleet.github.emulator import EmulatorControl

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]

STATIC_CONFIG = """
name = "e2e-static"
[runners]
mode = "static"
count = {count}
"""

AUTOSCALED_CONFIG = """
name = "e2e-asg"
[network]
availability_zones = ["us-east-1a", "us-east-1b"]
public_subnet_cidrs = ["10.0.1.0/24", "10.0.3.0/24"]
private_subnet_cidrs = ["10.0.2.0/24", "10.0.4.0/24"]
nat = "per_az"
[runners]
mode = "autoscaled"
[[runners.pools]]
name = "default"
min_size = 1
max_size = 3
desired_capacity = 1
"""


def _module_docs() -> ModuleType:
    """scripts/module_docs.py (its small HCL reader)."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "module_docs.py"
    spec = importlib.util.spec_from_file_location("module_docs", path)
    assert spec and spec.loader, f"cannot load {path}"
    mod = importlib.util.module_from_spec(spec)
    sys.modules["module_docs"] = mod
    spec.loader.exec_module(mod)
    return mod


def asg_ignore_changes(project: Project) -> set[str]:
    """`lifecycle { ignore_changes }` of aws_autoscaling_group.pool in the runner-fleet
    module that the sandbox applied, its own HCL only (not the sandbox's *_override.tf: an
    override replaces the whole `ignore_changes` argument, so the sandbox's restates the
    module's list, and a plan in the sandbox cannot tell whether the module has it)."""
    md = _module_docs()
    module = project.root / ".runnerfleet/work/sandbox/infra/modules/runner-fleet"
    for tf in sorted(module.glob("*.tf")):
        if tf.name.endswith("override.tf"):
            continue
        for block in md.parse_hcl(tf.read_text(encoding="utf-8")):
            if block.type == "resource" and block.labels == ["aws_autoscaling_group", "pool"]:
                for lc in block.blocks:
                    if lc.type == "lifecycle" and "ignore_changes" in lc.attrs:
                        return set(
                            re.findall(r"\w+", md.strip_comments(lc.attrs["ignore_changes"]))
                        )
    return set()


def leftovers(project: Project, name: str) -> dict[str, list[Any]]:
    """Everything of the fleet that is still in the AWS emulator."""
    box = project.sandbox
    ec2 = box.client("ec2")
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] in vpcs]
    nats = [
        n["NatGatewayId"]
        for n in ec2.describe_nat_gateways()["NatGateways"]
        if n["State"] not in ("deleted", "deleting")
    ]
    eips = [a.get("AllocationId") for a in ec2.describe_addresses()["Addresses"]]
    instances = [
        i["InstanceId"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    ]
    lts = [lt["LaunchTemplateName"] for lt in ec2.describe_launch_templates()["LaunchTemplates"]]
    sgs = [
        g["GroupId"]
        for g in ec2.describe_security_groups()["SecurityGroups"]
        if g["VpcId"] in vpcs or any(t["Key"] == "runnerfleet:fleet" for t in g.get("Tags", []))
    ]
    asgs = [
        g["AutoScalingGroupName"]
        for g in box.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    ]
    roles = [
        r["RoleName"]
        for r in box.client("iam").list_roles()["Roles"]
        if r["RoleName"].startswith(name)
    ]
    logs = [
        g["logGroupName"]
        for g in box.client("logs").describe_log_groups()["logGroups"]
        if name in g["logGroupName"]
    ]
    found = {
        "vpcs": vpcs, "subnets": subnets, "nat_gateways": nats, "eips": eips,
        "instances": instances, "launch_templates": lts, "security_groups": sgs,
        "autoscaling_groups": asgs, "iam_roles": roles, "log_groups": logs,
    }  # fmt: skip
    return {k: v for k, v in found.items() if v}


def test_static_fleet_up_scale_noop_down(project: Project) -> None:
    project.write_config(STATIC_CONFIG.format(count=2))

    first = project.run("up")
    assert first.returncode == 0, first.stderr[-4000:]
    out = first.stdout
    for word in ("VPC", "Public subnets", "Private subnets", "NAT gateways", "S3 endpoint"):
        assert word in out, f"{word!r} missing from `up` output:\n{out}"
    assert "vpc-" in out and "subnet-" in out and "nat-" in out and "vpce-" in out

    status = project.run_json("status")
    online = sorted(r["name"] for r in status["runners"] if r["status"] == "online")
    assert online == ["e2e-static-runner-01", "e2e-static-runner-02"], status["runners"]
    assert len(status["instances"]) == 2

    # Horizontal scaling: runner_count 3 adds exactly one host and one runner.
    project.write_config(STATIC_CONFIG.format(count=3))
    scaled = project.run_json("up")
    assert scaled["applied"] is True
    assert scaled["summary"]["delete"] == 0 and scaled["summary"]["replace"] == 0
    names = sorted(i["name"] for i in project.run_json("status")["instances"])
    assert names == [f"e2e-static-runner-0{i}" for i in (1, 2, 3)]

    again = project.run("up")
    assert again.returncode == 0, again.stderr[-4000:]
    assert "no changes" in again.stdout

    down = project.run("down", "--keep-sandbox")
    assert down.returncode == 0, down.stderr[-4000:]
    assert leftovers(project, "e2e-static") == {}
    assert project.sandbox.running()  # --keep-sandbox kept the emulators for this check

    project.sandbox.stop()
    assert not project.sandbox.running()


def test_autoscaled_multi_az_fleet_up_down(project: Project) -> None:
    project.write_config(AUTOSCALED_CONFIG)
    up = project.run_json("up")
    outputs = up["outputs"]
    assert len(outputs["private_subnet_ids"]) == 2
    assert len(outputs["nat_gateway_ids"]) == 2
    box = project.sandbox
    groups = box.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert len(groups) == 1
    assert len(groups[0]["VPCZoneIdentifier"].split(",")) == 2
    assert groups[0]["DesiredCapacity"] == 1

    # Queue depth drives scaling: the GitHub emulator delivers signed workflow_job webhooks to
    # the webhook function (through its function URL), whose scaler raises desired capacity;
    # the group's host takes jobs meanwhile, so the jobs complete and the peak shows the
    # scale-out (how high it gets depends on how fast the first host drains the queue).
    github = EmulatorControl(box.github_info()["url"])
    jobs = [github.enqueue_job("example-org", "app", ["self-hosted", "linux", "x64"])
            for _ in range(3)]  # fmt: skip
    deadline = time.monotonic() + 180
    peak, done = 1, False
    while time.monotonic() < deadline and not (done and peak > 1):
        time.sleep(1)
        asg = box.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"][0]
        peak = max(peak, asg["DesiredCapacity"])
        done = all(github.job(j)["status"] == "completed" for j in jobs)
    log = (project.root / ".runnerfleet" / "control-plane.log").read_text()
    assert peak > 1, f"desired capacity stayed {peak}; control plane log:\n{log[-3000:]}"
    assert done, f"queued jobs did not complete; control plane log:\n{log[-3000:]}"

    # Issue 9.6: a scale event is the control plane's, and Terraform does not see it. The
    # group's desired capacity is now above the configured 1 (the extra hosts stay for the
    # idle grace, 600 s) and the scaler has recorded its cooldown stamps (in the control
    # plane's table, not as tags on the group): `plan` finds nothing to change (it shows the
    # group to update when the stamps are tags on it again). That Terraform leaves desired
    # capacity alone (ignore_changes) is read from the module the sandbox applied: the
    # sandbox's override file restates that list, so its plan would be clean without it.
    def desired() -> int:
        asg = box.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"][0]
        return int(asg["DesiredCapacity"])

    assert desired() > 1
    plan = project.run("plan", "--json")
    assert plan.returncode == 0, (
        f"plan after a scale event is not clean (exit {plan.returncode}):\n"
        f"{plan.stdout[-3000:]}{plan.stderr[-3000:]}"
    )
    result = json.loads(plan.stdout)
    assert result["changes"] is False and result["addresses"] == [], result
    assert desired() > 1, "the plan must have refreshed a desired capacity other than the config's"
    assert "desired_capacity" in asg_ignore_changes(project), (
        "the runner-fleet module must leave the groups' desired capacity to the control plane "
        "(lifecycle ignore_changes); the sandbox's override restates it, so its plan is clean "
        "either way"
    )

    down = project.run("down", "--keep-sandbox")
    assert down.returncode == 0, down.stderr[-4000:]
    assert leftovers(project, "e2e-asg") == {}


def test_invalid_config_exits_2_and_starts_nothing(project: Project) -> None:
    project.write_config('name = "ok-name"\n[network]\nvpc_cidr = "10.0.0.0/40"\n')
    proc = project.run("up")
    assert proc.returncode == 2
    assert "network.vpc_cidr" in proc.stderr
    assert not (project.root / ".runnerfleet").exists()
