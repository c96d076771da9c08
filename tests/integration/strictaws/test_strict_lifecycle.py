"""The strict layer's launch lifecycle actions, against the sandbox's own AWS emulator process:
an instance whose group has a launch hook is in Pending:Wait while its action is active (moto
alone says InService), CONTINUE puts it InService, ABANDON terminates it and the group
launches a replacement. The failed-bootstrap report (runnerfleet.agent.failure) runs against
it: the host in Pending:Wait abandons its launch action, a host past it is marked Unhealthy."""

from __future__ import annotations

import itertools
from typing import Any

import boto3
import pytest

from runnerfleet.agent.failure import report_bootstrap_failure
from runnerfleet.strictaws import lifecycle_actions, register_lifecycle_action

pytestmark = pytest.mark.emulator
_GROUPS = itertools.count(1)
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"


def _group(admin: boto3.Session, endpoint: str, *, hook: bool = True) -> tuple[str, str]:
    """A group of one instance with the runner-fleet module's launch hook `<group>-launch`."""
    ec2 = admin.client("ec2", endpoint_url=endpoint)
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    name = f"rf-lc{next(_GROUPS)}"
    image = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["x86_64"]}])
    ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": image["Images"][0]["ImageId"], "InstanceType": "t3.micro"},
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
        AvailabilityZones=["us-east-1a"],
    )
    if hook:
        asg.put_lifecycle_hook(
            LifecycleHookName=f"{name}-launch",
            AutoScalingGroupName=name,
            LifecycleTransition=LAUNCHING,
            HeartbeatTimeout=300,
            DefaultResult="CONTINUE",
        )
    return name, _members(asg, name)[0]["InstanceId"]


def _members(asg: Any, name: str) -> list[dict[str, Any]]:
    found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    members: list[dict[str, Any]] = found["AutoScalingGroups"][0]["Instances"]
    return members


def _state(asg: Any, iid: str) -> str:
    rows = asg.describe_auto_scaling_instances(InstanceIds=[iid])["AutoScalingInstances"]
    return str(rows[0]["LifecycleState"]) if rows else "gone"


def test_launching_instance_waits_in_pending_wait_until_continue(
    admin: boto3.Session, endpoint: str
) -> None:
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    name, iid = _group(admin, endpoint)
    assert _state(asg, iid) == "InService"  # no action yet (the sandbox registers it)
    token = register_lifecycle_action(endpoint, name, f"{name}-launch", iid)
    assert _state(asg, iid) == "Pending:Wait"
    assert [m["LifecycleState"] for m in _members(asg, name)] == ["Pending:Wait"]
    # a Pending:Wait instance counts towards desired capacity, as in AWS: no second launch
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    assert [m["InstanceId"] for m in _members(asg, name)] == [iid]
    asg.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=name, LifecycleHookName=f"{name}-launch", LifecycleActionToken=token
    )
    assert _state(asg, iid) == "Pending:Wait"
    asg.complete_lifecycle_action(
        AutoScalingGroupName=name,
        LifecycleHookName=f"{name}-launch",
        LifecycleActionToken=token,
        LifecycleActionResult="CONTINUE",
    )
    assert _state(asg, iid) == "InService"


def test_actions_of_other_hooks_leave_the_instance_in_service(
    admin: boto3.Session, endpoint: str
) -> None:
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    name, iid = _group(admin, endpoint, hook=False)
    register_lifecycle_action(endpoint, name, "not-a-hook", iid)
    assert _state(asg, iid) == "InService"


def test_failed_bootstrap_in_pending_wait_abandons_and_the_group_replaces_the_host(
    admin: boto3.Session, endpoint: str
) -> None:
    ec2 = admin.client("ec2", endpoint_url=endpoint)
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    name, iid = _group(admin, endpoint)
    token = register_lifecycle_action(endpoint, name, f"{name}-launch", iid)
    report = report_bootstrap_failure(
        instance_id=iid, step="install-docker", ec2=ec2, autoscaling=asg
    )
    assert report.action == "abandoned", report
    assert f"{name}-launch abandoned in {name}" in report.detail
    done = lifecycle_actions(endpoint)["completed"]
    assert [a["result"] for a in done if a["token"] == token] == ["ABANDON"]
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] in ("shutting-down", "terminated")
    members = _members(asg, name)
    assert len(members) == 1 and members[0]["InstanceId"] != iid  # replaced
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 1


def test_failed_bootstrap_past_the_hook_marks_the_host_unhealthy(
    admin: boto3.Session, endpoint: str
) -> None:
    ec2 = admin.client("ec2", endpoint_url=endpoint)
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    name, iid = _group(admin, endpoint)
    token = register_lifecycle_action(endpoint, name, f"{name}-launch", iid)
    asg.complete_lifecycle_action(
        AutoScalingGroupName=name,
        LifecycleHookName=f"{name}-launch",
        LifecycleActionToken=token,
        LifecycleActionResult="CONTINUE",
    )
    report = report_bootstrap_failure(
        instance_id=iid, step="install-runner", ec2=ec2, autoscaling=asg
    )
    assert report.action == "unhealthy", report
    rows = asg.describe_auto_scaling_instances(InstanceIds=[iid])["AutoScalingInstances"]
    assert rows[0]["HealthStatus"].upper() == "UNHEALTHY"
