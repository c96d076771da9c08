"""Each refusal of the strict layer, against the sandbox's own AWS emulator process: AWS's code
and message where moto alone would accept the call (each test fails if its rule is removed)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from strict_support import error_of, lambda_zip, make_role

from runnerfleet.strictaws import lifecycle_actions, register_lifecycle_action
from runnerfleet.strictaws.rules import SSM_TIERS_DOC

pytestmark = pytest.mark.emulator


# ---- SSM -----------------------------------------------------------------------------------------
def test_standard_tier_parameter_over_4096_characters_is_refused(
    admin: boto3.Session, endpoint: str
) -> None:
    ssm = admin.client("ssm", endpoint_url=endpoint)
    tiers: list[dict[str, Any]] = [{}, {"Tier": "Standard"}]
    for tier in tiers:

        def put(t: dict[str, Any] = tier) -> Any:
            return ssm.put_parameter(Name="/t/big", Value="x" * 4097, Type="String", **t)

        code, message, status = error_of(put)
        assert (code, status) == ("ValidationException", 400)
        assert message == (
            "Standard tier parameters support a maximum parameter value of 4096 characters. "
            "To create a larger parameter value, upgrade the parameter to use the "
            f"advanced-parameter tier. For more information, see {SSM_TIERS_DOC}"
        )
    assert not ssm.get_parameters(Names=["/t/big"])["Parameters"]  # nothing was written
    ssm.put_parameter(Name="/t/edge", Value="x" * 4096, Type="String")


def test_advanced_tier_takes_8k_and_keeps_its_tier_on_overwrite(
    admin: boto3.Session, endpoint: str
) -> None:
    ssm = admin.client("ssm", endpoint_url=endpoint)
    ssm.put_parameter(Name="/t/adv", Value="x" * 8192, Type="SecureString", Tier="Advanced")
    ssm.put_parameter(Name="/t/adv", Value="y" * 5000, Type="SecureString", Overwrite=True)
    code, message, _ = error_of(
        lambda: ssm.put_parameter(Name="/t/adv2", Value="x" * 8193, Type="String", Tier="Advanced")
    )
    assert code == "ValidationException"
    assert "maximum parameter value of 8192 characters" in message


# ---- Auto Scaling --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def group(admin: boto3.Session, endpoint: str) -> dict[str, Any]:
    ec2 = admin.client("ec2", endpoint_url=endpoint)
    image = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["x86_64"]}])["Images"][
        0
    ]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="strict-lt",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    asg.create_auto_scaling_group(
        AutoScalingGroupName="strict-asg",
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateName": "strict-lt", "Version": "$Latest"},
        AvailabilityZones=["us-east-1a"],
    )
    found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["strict-asg"])
    instance = found["AutoScalingGroups"][0]["Instances"][0]["InstanceId"]
    return {"name": "strict-asg", "instance": instance}


def test_terminate_with_decrement_at_min_size_is_refused(
    admin: boto3.Session, endpoint: str, group: dict[str, Any]
) -> None:
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    code, message, status = error_of(
        lambda: asg.terminate_instance_in_auto_scaling_group(
            InstanceId=group["instance"], ShouldDecrementDesiredCapacity=True
        )
    )
    assert (code, status) == ("ValidationError", 400)
    assert message == (
        "Currently, desiredSize equals minSize (1). Terminating instance without replacement "
        "will violate group's min size constraint. Either set shouldDecrementDesiredCapacity "
        "flag to false or lower group's min size."
    )
    sizes = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group["name"]])
    assert sizes["AutoScalingGroups"][0]["DesiredCapacity"] == 1  # nothing changed


def test_set_desired_capacity_outside_min_max_is_refused(
    admin: boto3.Session, endpoint: str, group: dict[str, Any]
) -> None:
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    above = error_of(
        lambda: asg.set_desired_capacity(AutoScalingGroupName=group["name"], DesiredCapacity=4)
    )
    assert above[:2] == (
        "ValidationError",
        "New SetDesiredCapacity value 4 is above max value 3 for the AutoScalingGroup.",
    )
    below = error_of(
        lambda: asg.set_desired_capacity(AutoScalingGroupName=group["name"], DesiredCapacity=0)
    )
    assert below[:2] == (
        "ValidationError",
        "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup.",
    )
    sizes = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group["name"]])
    assert sizes["AutoScalingGroups"][0]["DesiredCapacity"] == 1


def test_complete_lifecycle_action_needs_an_active_action(
    admin: boto3.Session, endpoint: str, group: dict[str, Any]
) -> None:
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    unknown = "3f1c2e57-0000-4000-8000-000000000000"
    code, message, _ = error_of(
        lambda: asg.complete_lifecycle_action(
            LifecycleHookName="drain",
            AutoScalingGroupName=group["name"],
            LifecycleActionToken=unknown,
            LifecycleActionResult="CONTINUE",
        )
    )
    assert (code, message) == (
        "ValidationError",
        f"No active Lifecycle Action found with token {unknown}",
    )
    code, message, _ = error_of(
        lambda: asg.complete_lifecycle_action(
            LifecycleHookName="drain",
            AutoScalingGroupName=group["name"],
            InstanceId=group["instance"],
            LifecycleActionResult="CONTINUE",
        )
    )
    assert message == f"No active Lifecycle Action found with instance ID {group['instance']}"

    token = register_lifecycle_action(endpoint, group["name"], "drain", group["instance"])
    asg.record_lifecycle_action_heartbeat(
        LifecycleHookName="drain", AutoScalingGroupName=group["name"], LifecycleActionToken=token
    )
    asg.complete_lifecycle_action(
        LifecycleHookName="drain",
        AutoScalingGroupName=group["name"],
        LifecycleActionToken=token,
        LifecycleActionResult="ABANDON",
    )
    done = lifecycle_actions(endpoint)
    assert [a["result"] for a in done["completed"] if a["token"] == token] == ["ABANDON"]
    assert not [a for a in done["active"] if a["token"] == token]
    again = error_of(
        lambda: asg.complete_lifecycle_action(
            LifecycleHookName="drain",
            AutoScalingGroupName=group["name"],
            LifecycleActionToken=token,
            LifecycleActionResult="CONTINUE",
        )
    )
    assert again[0] == "ValidationError"  # a completed action is no longer active


# ---- Lambda --------------------------------------------------------------------------------------
XRAY_MESSAGE = (
    "The provided execution role does not have permissions to call PutTraceSegments on XRAY"
)


def test_active_tracing_needs_xray_permissions_on_the_role(
    admin: boto3.Session, endpoint: str
) -> None:
    iam = admin.client("iam", endpoint_url=endpoint)
    bare = make_role(iam, "strict-bare", "logs:CreateLogStream")
    traced = make_role(iam, "strict-traced", "xray:PutTraceSegments", "xray:PutTelemetryRecords")
    lam = admin.client("lambda", endpoint_url=endpoint)
    spec: dict[str, Any] = {
        "Runtime": "python3.12",
        "Handler": "handler.handler",
        "Code": {"ZipFile": lambda_zip()},
        "TracingConfig": {"Mode": "Active"},
    }
    code, message, status = error_of(
        lambda: lam.create_function(FunctionName="strict-fn", Role=bare, **spec)
    )
    assert (code, message, status) == ("InvalidParameterValueException", XRAY_MESSAGE, 400)
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert "strict-fn" not in names

    lam.create_function(FunctionName="strict-fn", Role=traced, **spec)
    lam.create_function(
        FunctionName="strict-plain",
        Role=bare,
        Runtime="python3.12",
        Handler="handler.handler",
        Code={"ZipFile": lambda_zip()},
    )
    code, message, _ = error_of(
        lambda: lam.update_function_configuration(
            FunctionName="strict-plain", TracingConfig={"Mode": "Active"}
        )
    )
    assert (code, message) == ("InvalidParameterValueException", XRAY_MESSAGE)


def test_reserved_concurrency_may_not_leave_under_10_unreserved(
    admin: boto3.Session, endpoint: str
) -> None:
    iam = admin.client("iam", endpoint_url=endpoint)
    role = make_role(iam, "strict-conc")
    lam = admin.client("lambda", endpoint_url=endpoint)
    lam.create_function(
        FunctionName="strict-conc",
        Role=role,
        Runtime="python3.12",
        Handler="handler.handler",
        Code={"ZipFile": lambda_zip()},
    )
    code, message, status = error_of(
        lambda: lam.put_function_concurrency(
            FunctionName="strict-conc", ReservedConcurrentExecutions=5
        )
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == (
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [10]."
    )
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(
        FunctionName="strict-conc"
    )


def test_execution_role_must_trust_lambda(admin: boto3.Session, endpoint: str) -> None:
    iam = admin.client("iam", endpoint_url=endpoint)
    ec2_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    host_role = iam.create_role(
        RoleName="strict-host-role", AssumeRolePolicyDocument=json.dumps(ec2_trust)
    )["Role"]["Arn"]
    lam = admin.client("lambda", endpoint_url=endpoint)
    spec: dict[str, Any] = {
        "Runtime": "python3.12",
        "Handler": "handler.handler",
        "Code": {"ZipFile": lambda_zip()},
    }
    message = "The role defined for the function cannot be assumed by Lambda."
    for role in (host_role, "arn:aws:iam::123456789012:role/strict-missing"):

        def create(r: str = role) -> Any:
            return lam.create_function(FunctionName="strict-untrusted", Role=r, **spec)

        code, text, status = error_of(create)
        assert (code, text, status) == ("InvalidParameterValueException", message, 400)
