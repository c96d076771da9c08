"""Parsing EventBridge events (direct and through SQS) for the registrar."""

from __future__ import annotations

import json

from runnerfleet.controlplane.events import parse
from runnerfleet.controlplane.registrar import InstanceEvent, LifecycleAction

STATE = {
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "detail": {"instance-id": "i-1", "state": "running"},
}
LAUNCH = {
    "detail-type": "EC2 Instance-launch Lifecycle Action",
    "source": "aws.autoscaling",
    "detail": {
        "LifecycleActionToken": "tok",
        "AutoScalingGroupName": "rf-default",
        "LifecycleHookName": "rf-launch",
        "EC2InstanceId": "i-2",
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
    },
}


def test_state_change_lifecycle_and_schedule() -> None:
    batch = parse([STATE, LAUNCH, {"detail-type": "Scheduled Event", "detail": {}}])
    assert batch.events == [
        InstanceEvent("i-1", state="running"),
        InstanceEvent(
            "i-2", lifecycle=LifecycleAction("launching", "rf-default", "rf-launch", "tok")
        ),
    ]
    assert batch.scan and batch.ignored == []


def test_sqs_records_and_junk_are_handled() -> None:
    batch = parse({"Records": [{"body": json.dumps(STATE)}, {"body": "not json"}]})
    assert batch.events == [InstanceEvent("i-1", state="running")]
    assert batch.ignored == ["SQS record whose body is not JSON"]
    assert parse({"detail-type": "Something Else"}).ignored == [
        "unsupported event 'Something Else'"
    ]
    bad = parse({"detail-type": "EC2 Instance State-change Notification", "detail": {}})
    assert bad.events == [] and bad.ignored
