"""The strict layer's lifecycle actions at their heartbeat timeout, on a compressed clock (moto
in this process; `LifecycleActions` is what the emulator's middleware holds): the hook's
default result applies, a heartbeat restarts the timeout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runnerfleet.strictaws.motostate import LifecycleActions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def asg() -> Iterator[Any]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        client = boto3.client("autoscaling", region_name="us-east-1")
        ec2.create_launch_template(
            LaunchTemplateName="rf-lt",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
        yield client


def _group(asg: Any, name: str, default: str) -> str:
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateName": "rf-lt", "Version": "$Latest"},
        AvailabilityZones=["us-east-1a"],
    )
    asg.put_lifecycle_hook(
        LifecycleHookName=f"{name}-launch",
        AutoScalingGroupName=name,
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        HeartbeatTimeout=60,
        DefaultResult=default,
    )
    return str(_members(asg, name)[0]["InstanceId"])


def _members(asg: Any, name: str) -> list[dict[str, Any]]:
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    members: list[dict[str, Any]] = groups["AutoScalingGroups"][0]["Instances"]
    return members


def test_heartbeat_timeout_applies_the_default_result(asg: Any) -> None:
    clock = Clock()
    actions = LifecycleActions(clock=clock)
    kept = _group(asg, "g-continue", "CONTINUE")
    gone = _group(asg, "g-abandon", "ABANDON")
    actions.register("g-continue", "g-continue-launch", kept)
    token = actions.register("g-abandon", "g-abandon-launch", gone)
    clock.now += 59
    actions.heartbeat("g-abandon", "g-abandon-launch", token, None)  # restarts its timeout
    clock.now += 1
    actions.expire()
    assert [m["LifecycleState"] for m in _members(asg, "g-continue")] == ["InService"]
    assert [m["InstanceId"] for m in _members(asg, "g-abandon")] == [gone]
    assert actions.active("g-abandon", "g-abandon-launch", token, None)
    clock.now += 58  # 59 s since the heartbeat
    assert actions.active("g-abandon", "g-abandon-launch", token, None)
    clock.now += 1
    assert not actions.active("g-abandon", "g-abandon-launch", token, None)  # expired: ABANDON
    replaced = _members(asg, "g-abandon")
    assert len(replaced) == 1 and replaced[0]["InstanceId"] != gone
    results = {a["group"]: a["result"] for a in actions.snapshot()["completed"]}
    assert results == {"g-continue": "CONTINUE", "g-abandon": "ABANDON"}
