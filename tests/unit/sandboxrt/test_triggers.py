"""The sandbox's trigger shapes: function-URL events (payload 2.0), replies, EventBridge
patterns and envelopes, schedules, delivery faults."""

from __future__ import annotations

import base64
import json

import pytest

from runnerfleet.sandboxrt.triggers import (
    DeliveryFaults,
    ec2_state_event,
    function_url_event,
    http_reply,
    lifecycle_event,
    matches,
    rate_seconds,
)


def test_function_url_event_has_payload_2_0_shape_with_text_body() -> None:
    body = b'{"action":"queued"}'
    event = function_url_event(
        "POST", "/webhook?x=1&x=2", [("Content-Type", "application/json"),
                                      ("X-GitHub-Event", "workflow_job")],
        body, url_id="abc123", region="us-east-1",
    )  # fmt: skip
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/webhook" and event["rawQueryString"] == "x=1&x=2"
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["headers"]["x-github-event"] == "workflow_job"  # lower-cased
    http = event["requestContext"]["http"]
    assert http["method"] == "POST" and http["path"] == "/webhook"
    assert event["requestContext"]["domainName"] == "abc123.lambda-url.us-east-1.on.aws"
    assert event["isBase64Encoded"] is False and event["body"] == body.decode()


def test_function_url_event_base64_encodes_a_binary_body() -> None:
    raw = bytes(range(256))
    event = function_url_event(
        "POST", "/", [("Content-Type", "application/octet-stream")], raw,
        url_id="u", region="us-east-1",
    )  # fmt: skip
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_function_url_event_without_body_has_no_body_key() -> None:
    event = function_url_event("GET", "/healthz", [], b"", url_id="u", region="us-east-1")
    assert "body" not in event and "queryStringParameters" not in event


def test_http_reply_from_a_proxy_result_and_from_a_bare_value() -> None:
    status, headers, body = http_reply(
        {"statusCode": 401, "headers": {"content-type": "application/json"}, "body": "{}"}
    )
    assert (status, headers["content-type"], body) == (401, "application/json", b"{}")
    encoded = {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(),
               "isBase64Encoded": True}  # fmt: skip
    assert http_reply(encoded)[2] == b"\x00\x01"
    assert http_reply({"ok": True}) == (200, {"content-type": "application/json"},
                                        json.dumps({"ok": True}).encode())  # fmt: skip


def test_event_patterns_match_as_eventbridge_does() -> None:
    pattern = {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["pending", "running"]},
    }
    running = ec2_state_event("i-1", "running", account="123456789012", region="us-east-1")
    stopped = ec2_state_event("i-1", "stopped", account="123456789012", region="us-east-1")
    assert matches(pattern, running)
    assert not matches(pattern, stopped)
    assert matches({"detail": {"instance-id": [{"prefix": "i-"}]}}, running)
    assert not matches({"detail": {"state": [{"anything-but": ["running"]}]}}, running)
    assert matches({"detail": {"missing": [{"exists": False}]}}, running)
    assert not matches({"detail": {"missing": ["x"]}}, running)


def test_lifecycle_event_matches_the_runner_fleet_rule() -> None:
    event = lifecycle_event(
        "fleet-small", "fleet-small-launch", "i-1", "autoscaling:EC2_INSTANCE_LAUNCHING", "tok",
        account="123456789012", region="us-east-1",
    )  # fmt: skip
    rule = {
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance-launch Lifecycle Action",
                        "EC2 Instance-terminate Lifecycle Action"],
        "detail": {"AutoScalingGroupName": ["fleet-small", "fleet-large"]},
    }  # fmt: skip
    assert matches(rule, event)
    assert event["detail"]["LifecycleActionToken"] == "tok"
    assert event["detail"]["EC2InstanceId"] == "i-1"


def test_rate_expressions_and_a_clear_refusal_of_cron() -> None:
    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(2 hours)") == 7200
    with pytest.raises(ValueError, match="rate"):
        rate_seconds("cron(0 8 * * ? *)")


def test_delivery_faults_are_seeded_and_bounded() -> None:
    a = DeliveryFaults(drop=0.3, duplicate=0.1, seed=7)
    b = DeliveryFaults(drop=0.3, duplicate=0.1, seed=7)
    fates = [a.decide() for _ in range(1000)]
    assert fates == [b.decide() for _ in range(1000)]
    assert 200 < fates.count("drop") < 400 and 50 < fates.count("duplicate") < 150
    assert DeliveryFaults().decide() == "deliver"
    with pytest.raises(ValueError, match="drop"):
        DeliveryFaults(drop=1.5)


# ---- the EC2 watch: listings without terminated instances -------------------------------
def test_an_instance_leaving_the_live_listing_is_announced_terminated_once() -> None:
    from runnerfleet.sandboxrt.triggers import EC2_LIVE_STATES, ec2_changes

    assert "terminated" not in EC2_LIVE_STATES
    tags = {"runnerfleet:pool": "a"}
    first = ec2_changes({}, {"i-1": ("pending", tags)})
    assert [(c.instance_id, c.steps, c.launching) for c in first] == [("i-1", ("pending",), True)]
    # moto jumps from pending to running and then out of the listing (terminated)
    running = ec2_changes({"i-1": ("pending", tags)}, {"i-1": ("running", tags)})
    assert [c.steps for c in running] == [("running",)] and not running[0].launching
    gone = ec2_changes({"i-1": ("running", tags)}, {})
    assert [(c.state, c.steps, c.tags, c.terminating) for c in gone] == [
        ("terminated", ("shutting-down", "terminated"), tags, True)
    ]
    assert ec2_changes({}, {}) == [], "forgotten after its announcement"
    assert ec2_changes({"i-1": ("running", tags)}, {"i-1": ("running", tags)}) == []


def test_an_instance_first_seen_shutting_down_is_not_announced() -> None:
    from runnerfleet.sandboxrt.triggers import ec2_changes

    (change,) = ec2_changes({}, {"i-2": ("shutting-down", {})})
    assert change.steps == () and not change.launching and not change.terminating
    (stopped,) = ec2_changes({"i-2": ("running", {})}, {"i-2": ("stopped", {})})
    assert stopped.steps == ("stopped",)
