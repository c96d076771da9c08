"""A host launched into the warm pool completes its own launch lifecycle action when its
bootstrap is done (and heartbeats it meanwhile); in any other state it leaves it alone.
The requests are checked with botocore's Stubber (moto has no warm-pool instances)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from runnerfleet.agent.launched import report_bootstrap_progress

IDENT = {
    "AutoScalingGroupName": "rf-default",
    "LifecycleHookName": "rf-default-launch",
    "InstanceId": "i-0abc",
}


def _autoscaling() -> Any:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client("autoscaling")


def _member(state: str | None) -> dict[str, Any]:
    if state is None:
        return {"AutoScalingInstances": []}
    row = {
        "InstanceId": "i-0abc",
        "AutoScalingGroupName": "rf-default",
        "AvailabilityZone": "us-east-1a",
        "LifecycleState": state,
        "HealthStatus": "HEALTHY",
        "ProtectedFromScaleIn": False,
    }
    return {"AutoScalingInstances": [row]}


def test_warm_pool_launch_is_continued_when_the_bootstrap_is_done() -> None:
    autoscaling = _autoscaling()
    with Stubber(autoscaling) as stub:
        stub.add_response(
            "describe_auto_scaling_instances",
            _member("Warmed:Pending:Wait"),
            {"InstanceIds": ["i-0abc"]},
        )
        stub.add_response(
            "complete_lifecycle_action", {}, {**IDENT, "LifecycleActionResult": "CONTINUE"}
        )
        report = report_bootstrap_progress(
            instance_id="i-0abc", autoscaling=autoscaling, mode="continue"
        )
        stub.assert_no_pending_responses()
    assert report.action == "continued" and "rf-default-launch" in report.detail


def test_warm_pool_launch_is_heartbeaten_while_it_boots() -> None:
    autoscaling = _autoscaling()
    with Stubber(autoscaling) as stub:
        stub.add_response("describe_auto_scaling_instances", _member("Warmed:Pending:Wait"))
        stub.add_response("record_lifecycle_action_heartbeat", {}, IDENT)
        report = report_bootstrap_progress(
            instance_id="i-0abc", autoscaling=autoscaling, mode="heartbeat"
        )
        stub.assert_no_pending_responses()
    assert report.action == "heartbeat"


@pytest.mark.parametrize("state", ["Pending:Wait", "InService", "Warmed:Stopped", None])
def test_other_states_are_left_alone(state: str | None) -> None:
    """A direct launch's Pending:Wait is the registrar's to complete (after the registration
    exists); InService and a static host (no group) have nothing pending. A Stubber with no
    queued complete/heartbeat response raises on any such call."""
    autoscaling = _autoscaling()
    for mode in ("continue", "heartbeat"):
        with Stubber(autoscaling) as stub:
            stub.add_response("describe_auto_scaling_instances", _member(state))
            report = report_bootstrap_progress(
                instance_id="i-0abc",
                autoscaling=autoscaling,
                mode=mode,  # type: ignore[arg-type]
            )
            stub.assert_no_pending_responses()
        assert report.action == "none"


def test_transient_errors_are_retried_and_a_refusal_is_raised() -> None:
    autoscaling = _autoscaling()
    slept: list[float] = []
    with Stubber(autoscaling) as stub:
        stub.add_client_error("describe_auto_scaling_instances", "Throttling", http_status_code=400)
        stub.add_response("describe_auto_scaling_instances", _member("Warmed:Pending:Wait"))
        stub.add_response("complete_lifecycle_action", {})
        report = report_bootstrap_progress(
            instance_id="i-0abc", autoscaling=autoscaling, mode="continue", sleep=slept.append
        )
        stub.assert_no_pending_responses()
    assert report.action == "continued" and slept == [2.0]
    with Stubber(autoscaling) as stub:
        stub.add_response("describe_auto_scaling_instances", _member("Warmed:Pending:Wait"))
        stub.add_client_error(
            "complete_lifecycle_action",
            service_error_code="ValidationError",
            service_message="No active Lifecycle Action found with instance ID i-0abc",
        )
        with pytest.raises(ClientError):
            report_bootstrap_progress(
                instance_id="i-0abc", autoscaling=autoscaling, mode="continue", sleep=slept.append
            )
    assert slept == [2.0]  # a refusal is not retried
