"""A failed bootstrap is reported so the host is replaced: the requests, with botocore's
Stubber (the warm pool's Warmed:Pending:Wait and the fallbacks, which no emulator gives).
Against the strict layer, which holds a launching instance in Pending:Wait:
tests/integration/strictaws/test_strict_lifecycle.py (ABANDON, Unhealthy); the static path
runs against moto in tests/integration/hosts/test_host_artifact.py."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from runnerfleet.agent.failure import report_bootstrap_failure


def _clients() -> tuple[Any, Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client("ec2"), session.client("autoscaling")


def _member(state: str) -> dict[str, Any]:
    return {
        "AutoScalingInstances": [
            {
                "InstanceId": "i-0abc",
                "AutoScalingGroupName": "rf-default",
                "AvailabilityZone": "us-east-1a",
                "LifecycleState": state,
                "HealthStatus": "HEALTHY",
                "ProtectedFromScaleIn": True,
            }
        ]
    }


@pytest.mark.parametrize("state", ["Pending:Wait", "Warmed:Pending:Wait"])
def test_pending_asg_host_abandons_its_launch_lifecycle_action(state: str) -> None:
    """Launching into the group or into its warm pool: the launch action is abandoned."""
    ec2, autoscaling = _clients()
    with Stubber(autoscaling) as stub, Stubber(ec2) as ec2_stub:
        stub.add_response(
            "describe_auto_scaling_instances", _member(state), {"InstanceIds": ["i-0abc"]}
        )
        stub.add_response(
            "complete_lifecycle_action",
            {},
            {
                "AutoScalingGroupName": "rf-default",
                "LifecycleHookName": "rf-default-launch",
                "InstanceId": "i-0abc",
                "LifecycleActionResult": "ABANDON",
            },
        )
        report = report_bootstrap_failure(
            instance_id="i-0abc", step="install-docker", ec2=ec2, autoscaling=autoscaling
        )
        stub.assert_no_pending_responses()
        ec2_stub.assert_no_pending_responses()
    assert report.action == "abandoned"
    assert "bootstrap failed at step install-docker" in report.detail


def test_asg_host_past_its_hook_is_marked_unhealthy() -> None:
    ec2, autoscaling = _clients()
    with Stubber(autoscaling) as stub:
        stub.add_response("describe_auto_scaling_instances", _member("InService"))
        stub.add_response(
            "set_instance_health",
            {},
            {
                "InstanceId": "i-0abc",
                "HealthStatus": "Unhealthy",
                "ShouldRespectGracePeriod": False,
            },
        )
        report = report_bootstrap_failure(
            instance_id="i-0abc", step="install-runner", ec2=ec2, autoscaling=autoscaling
        )
        stub.assert_no_pending_responses()
    assert report.action == "unhealthy"


def test_refused_abandon_falls_back_to_unhealthy() -> None:
    ec2, autoscaling = _clients()
    with Stubber(autoscaling) as stub:
        stub.add_response("describe_auto_scaling_instances", _member("Pending:Wait"))
        stub.add_client_error(
            "complete_lifecycle_action",
            service_error_code="ValidationError",
            service_message="No active Lifecycle Action found with instance ID i-0abc",
        )
        stub.add_response("set_instance_health", {})
        report = report_bootstrap_failure(
            instance_id="i-0abc", step="install-node", ec2=ec2, autoscaling=autoscaling
        )
        stub.assert_no_pending_responses()
    assert report.action == "unhealthy"


def test_static_host_is_tagged_for_the_reconciler() -> None:
    ec2, autoscaling = _clients()
    with Stubber(autoscaling) as stub, Stubber(ec2) as ec2_stub:
        stub.add_response("describe_auto_scaling_instances", {"AutoScalingInstances": []})
        ec2_stub.add_response(
            "create_tags",
            {},
            {
                "Resources": ["i-0abc"],
                "Tags": [
                    {"Key": "runnerfleet:agent-state", "Value": "failed"},
                    {"Key": "runnerfleet:agent-detail", "Value": "bootstrap failed at step x"},
                ],
            },
        )
        report = report_bootstrap_failure(
            instance_id="i-0abc", step="x", ec2=ec2, autoscaling=autoscaling
        )
        ec2_stub.assert_no_pending_responses()
    assert report.action == "tagged"
