"""Parse the registrar's inputs: EventBridge events, directly or wrapped in SQS records.

Pure: JSON in, `InstanceEvent`s (and whether a full scan was asked for) out. Unknown event
types are ignored with a reason, so a misrouted event never fails the whole batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runnerfleet.controlplane.registrar import InstanceEvent, LifecycleAction

STATE_CHANGE = "EC2 Instance State-change Notification"
LAUNCH_LIFECYCLE = "EC2 Instance-launch Lifecycle Action"
TERMINATE_LIFECYCLE = "EC2 Instance-terminate Lifecycle Action"
SCHEDULED = "Scheduled Event"


@dataclass
class Batch:
    events: list[InstanceEvent] = field(default_factory=list)
    scan: bool = False
    ignored: list[str] = field(default_factory=list)


def _one(event: Mapping[str, Any], batch: Batch) -> None:
    kind = event.get("detail-type")
    detail = event.get("detail") or {}
    if kind == STATE_CHANGE:
        iid, state = detail.get("instance-id"), detail.get("state")
        if isinstance(iid, str) and isinstance(state, str):
            batch.events.append(InstanceEvent(iid, state=state))
            return
        batch.ignored.append("state-change event without instance-id/state")
    elif kind in (LAUNCH_LIFECYCLE, TERMINATE_LIFECYCLE):
        iid = detail.get("EC2InstanceId")
        asg, hook = detail.get("AutoScalingGroupName"), detail.get("LifecycleHookName")
        if not (isinstance(iid, str) and isinstance(asg, str) and isinstance(hook, str)):
            batch.ignored.append("lifecycle event without instance, group or hook")
            return
        token = detail.get("LifecycleActionToken")
        tok = token if isinstance(token, str) else None
        dest = detail.get("Destination")  # warm pool events: "WarmPool" | "AutoScalingGroup"
        where = dest if isinstance(dest, str) else None
        if kind == LAUNCH_LIFECYCLE:
            action = LifecycleAction("launching", asg, hook, tok, where)
        else:
            action = LifecycleAction("terminating", asg, hook, tok, where)
        batch.events.append(InstanceEvent(iid, lifecycle=action))
    elif kind == SCHEDULED or event.get("action") == "scan":
        batch.scan = True
    else:
        batch.ignored.append(f"unsupported event {kind!r}")


def parse(payload: Any) -> Batch:
    """An EventBridge event, a list of them, or an SQS batch whose bodies are events."""
    batch = Batch()
    items: list[Any]
    if isinstance(payload, Mapping) and isinstance(payload.get("Records"), list):
        items = []
        for record in payload["Records"]:
            try:
                items.append(json.loads(record.get("body", "")))
            except (json.JSONDecodeError, AttributeError, TypeError):
                batch.ignored.append("SQS record whose body is not JSON")
    elif isinstance(payload, list):
        items = payload
    else:
        items = [payload]
    for item in items:
        if isinstance(item, Mapping):
            _one(item, batch)
        else:
            batch.ignored.append("event is not a JSON object")
    return batch
