"""The registrar's dead-letter queue carries its policy as an attribute of the queue.

The AWS provider waits for every SQS attribute change to be read back three times 7 s apart,
so a separate `aws_sqs_queue_policy` would add a second wait of about 25 s, one after the
other, to every apply and every destroy. The policy, planned with the queue, must still name
this queue's own ARN, let only this fleet's EventBridge rules send, and refuse plain HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]


def _queue(plan: dict[str, Any]) -> dict[str, Any]:
    queues = [rc for rc in plan["resource_changes"] if rc["type"] == "aws_sqs_queue"]
    assert [rc["address"] for rc in queues] == ["module.control_plane[0].aws_sqs_queue.dlq"]
    after: dict[str, Any] = queues[0]["change"]["after"]
    return after


@pytest.mark.parametrize("mode", ["static", "autoscaled"])
def test_dead_letter_queue_policy_is_created_with_the_queue(
    stack_plan_json: Any, mode: str
) -> None:
    plan = stack_plan_json(mode)
    separate = [
        rc["address"] for rc in plan["resource_changes"] if rc["type"] == "aws_sqs_queue_policy"
    ]
    assert separate == [], f"a separate queue policy adds a sequential 25 s wait: {separate}"
    queue = _queue(plan)
    name = stack_plan_json.config(mode).name
    assert queue["name"] == f"{name}-registrar-dlq"
    policy = json.loads(queue["policy"])  # known at plan time: part of CreateQueue
    arn = f"arn:aws:sqs:us-east-1:123456789012:{name}-registrar-dlq"
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    send = by_sid["EventBridgeDeadLetters"]
    assert send["Effect"] == "Allow" and send["Action"] == "sqs:SendMessage"
    assert send["Resource"] == arn
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    assert send["Condition"] == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:events:us-east-1:123456789012:rule/{name}-*"}
    }
    deny = by_sid["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Resource"] == arn
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
