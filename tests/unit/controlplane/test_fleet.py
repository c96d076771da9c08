"""Fleet I/O: groups and hosts read from moto, scaler actions performed against moto.

Request parameters that moto accepts but does not act on (HonorCooldown, batching of
SetInstanceProtection) and the "instance already terminating" error, which moto does not
produce, are checked with botocore's Stubber.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from runnerfleet.controlplane.fleet import Fleet, GroupInfo
from runnerfleet.controlplane.scaler import ProtectInstances, SetDesiredCapacity, TerminateInstance

REGION = "us-east-1"
NOW = 1_800_000_000.0


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        asg = boto3.client("autoscaling", region_name=REGION)
        lt = ec2.create_launch_template(
            LaunchTemplateName="rf-runner",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )["LaunchTemplate"]
        tags = {"runnerfleet:fleet": "rf", "runnerfleet:role": "runner"}
        for pool, desired in (("default", 2), ("gpu", 0)):
            asg.create_auto_scaling_group(
                AutoScalingGroupName=f"rf-{pool}",
                LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
                MinSize=0,
                MaxSize=5,
                DesiredCapacity=desired,
                AvailabilityZones=[f"{REGION}a"],
                Tags=[
                    {"Key": k, "Value": v, "PropagateAtLaunch": True}
                    for k, v in {**tags, "runnerfleet:pool": pool}.items()
                ],
            )
        # a group of another fleet must be ignored
        asg.create_auto_scaling_group(
            AutoScalingGroupName="other-default",
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
            MinSize=0,
            MaxSize=1,
            AvailabilityZones=[f"{REGION}a"],
            Tags=[
                {"Key": "runnerfleet:fleet", "Value": "other", "PropagateAtLaunch": True},
                {"Key": "runnerfleet:pool", "Value": "default", "PropagateAtLaunch": True},
            ],
        )
        yield asg, ec2


def _desired(asg: Any, name: str) -> int:
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return int(g["DesiredCapacity"])


def _tags(asg: Any, name: str) -> dict[str, str]:
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {t["Key"]: t["Value"] for t in g["Tags"]}


def test_reads_groups_and_hosts_of_this_fleet_only(aws: tuple[Any, Any]) -> None:
    asg, ec2 = aws
    fleet = Fleet("rf", asg, ec2)
    groups = fleet.groups()
    assert set(groups) == {"default", "gpu"}
    assert (groups["default"].name, groups["default"].desired) == ("rf-default", 2)
    hosts = fleet.hosts(groups)
    assert len(hosts) == 2
    for h in hosts:
        assert h.instance.pool == "default"
        assert h.instance.state in ("pending", "running")
        assert h.instance.runner_name == f"rf-runner-default-{h.instance.id}"
        assert h.asg_name == "rf-default"
    # a runner name recorded as a tag wins over the derived one
    fleet.tag_runner(hosts[0].instance.id, "rf-runner-custom")
    assert fleet.hosts(groups)[0].instance.runner_name == "rf-runner-custom"
    # a pool with no group: the action fails and says how to fix it
    (out,) = fleet.execute([SetDesiredCapacity("arm", 1)], groups, NOW)
    assert not out.ok
    assert "runnerfleet:pool=arm" in out.detail and "runnerfleet up" in out.detail


def test_scale_out_protect_and_terminate_against_moto(aws: tuple[Any, Any]) -> None:
    asg, ec2 = aws
    fleet = Fleet("rf", asg, ec2)
    groups = fleet.groups()
    managed = _tags(asg, "rf-default")  # Terraform's tags: a scale event must not touch them
    out = fleet.execute([SetDesiredCapacity("default", 4)], groups, NOW)
    assert out[0].ok, out[0].detail
    assert _desired(asg, "rf-default") == 4
    assert _tags(asg, "rf-default") == managed

    groups = fleet.groups()
    ids = [h.instance.id for h in fleet.hosts(groups)]
    assert len(ids) == 4
    out = fleet.execute([ProtectInstances("default", (ids[0],), True)], groups, NOW)
    assert out[0].ok
    assert fleet.groups()["default"].protected == {ids[0]}
    assert [h.instance.protected for h in fleet.hosts()] == [i == ids[0] for i in ids]

    out = fleet.execute([TerminateInstance("default", ids[1], "idle")], groups, NOW + 5)
    assert out[0].ok, out[0].detail
    assert _desired(asg, "rf-default") == 3  # decremented, not replaced
    assert _tags(asg, "rf-default") == managed
    assert ids[1] not in {h.instance.id for h in fleet.hosts() if h.instance.state == "running"}


# ---- request-level checks (Stubber): what moto accepts but does not show ----------------
GROUP = GroupInfo("rf-default", "default", 0, 100, 1)


def _stubbed() -> tuple[Fleet, Stubber]:
    asg = boto3.client(
        "autoscaling", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    return Fleet("rf", asg, None), Stubber(asg)


def test_requests_honor_cooldown_false_and_decrement() -> None:
    """Exactly these two calls: no create_or_update_tags on the group (Terraform manages its
    tags; the Stubber refuses any call not queued here), cooldowns live in the table."""
    fleet, stub = _stubbed()
    stub.add_response(
        "set_desired_capacity",
        {},
        {"AutoScalingGroupName": "rf-default", "DesiredCapacity": 3, "HonorCooldown": False},
    )
    stub.add_response(
        "terminate_instance_in_auto_scaling_group",
        {},
        {"InstanceId": "i-1", "ShouldDecrementDesiredCapacity": True},
    )
    with stub:
        out = fleet.execute(
            [SetDesiredCapacity("default", 3), TerminateInstance("default", "i-1", "idle")],
            {"default": GROUP},
            NOW,
        )
    assert [o.ok for o in out] == [True, True]
    stub.assert_no_pending_responses()


def test_protection_is_batched_by_fifty() -> None:
    fleet, stub = _stubbed()
    ids = tuple(f"i-{n:03d}" for n in range(120))
    for lo, hi in ((0, 50), (50, 100), (100, 120)):
        stub.add_response(
            "set_instance_protection",
            {},
            {
                "InstanceIds": list(ids[lo:hi]),
                "AutoScalingGroupName": "rf-default",
                "ProtectedFromScaleIn": True,
            },
        )
    with stub:
        (out,) = fleet.execute([ProtectInstances("default", ids, True)], {"default": GROUP}, NOW)
    assert out.ok and "120 instance(s) protected" in out.detail


def test_already_terminating_counts_as_done_other_errors_reported() -> None:
    fleet, stub = _stubbed()
    stub.add_client_error(
        "terminate_instance_in_auto_scaling_group",
        "ValidationError",
        "The instance i-1 is already in Terminating state",
    )
    stub.add_client_error(
        "set_desired_capacity",
        "ValidationError",
        "New SetDesiredCapacity value 9 is above max value 5",
    )
    with stub:
        gone, over = fleet.execute(
            [TerminateInstance("default", "i-1", "idle"), SetDesiredCapacity("default", 9)],
            {"default": GROUP},
            NOW,
        )
    assert gone.ok and "already gone" in gone.detail
    assert not over.ok and "above max value" in over.detail
