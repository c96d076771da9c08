"""Webhook signature, workflow_job parsing, size limit and delivery dedupe."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from github_fakes import FakeClock
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from runnerfleet.github.webhooks import (
    MAX_BODY_BYTES,
    DeliveryDedupe,
    DynamoDedupe,
    InMemoryDedupe,
    MalformedPayload,
    PayloadTooLarge,
    UnsupportedEvent,
    WebhookError,
    parse_workflow_job,
    verify_signature,
)

# The test vector from GitHub's "Validating webhook deliveries" documentation.
DOC_SECRET = "It's a Secret to Everybody"
DOC_BODY = b"Hello, World!"
DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_documented_vector() -> None:
    assert verify_signature(DOC_SECRET, DOC_BODY, DOC_SIGNATURE)
    assert verify_signature(DOC_SECRET.encode(), DOC_BODY, DOC_SIGNATURE)


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (DOC_SECRET, b"Hello, World?", DOC_SIGNATURE),  # body changed
        ("It's a Secret to Everybody!", DOC_BODY, DOC_SIGNATURE),  # secret changed
        (DOC_SECRET, DOC_BODY, DOC_SIGNATURE.replace("sha256=", "sha1=")),  # prefix
        (DOC_SECRET, DOC_BODY, DOC_SIGNATURE.replace("sha256=", "SHA256=")),
        (DOC_SECRET, DOC_BODY, DOC_SIGNATURE[len("sha256=") :]),  # no prefix
        (DOC_SECRET, DOC_BODY, DOC_SIGNATURE[:-1]),  # truncated
        (DOC_SECRET, DOC_BODY, DOC_SIGNATURE.upper()),
        (DOC_SECRET, DOC_BODY, DOC_SIGNATURE[:-1] + "g"),  # not hex
        (DOC_SECRET, DOC_BODY, ""),
        (DOC_SECRET, DOC_BODY, None),
    ],
)
def test_rejections(secret: str, body: bytes, header: str | None) -> None:
    assert verify_signature(secret, body, header) is False


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret is empty"):
        verify_signature("", DOC_BODY, DOC_SIGNATURE)


def _sig(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=2048))
def test_property_roundtrip(secret: bytes, body: bytes) -> None:
    assert verify_signature(secret, body, _sig(secret, body))


@given(
    secret=st.text(min_size=1, max_size=32),
    body=st.binary(max_size=512),
    other=st.binary(max_size=512),
)
def test_property_other_body_fails(secret: str, body: bytes, other: bytes) -> None:
    header = _sig(secret.encode(), body)
    assert verify_signature(secret, other, header) is (other == body)


@given(
    secret=st.binary(min_size=1, max_size=32),
    other=st.binary(min_size=1, max_size=32),
    body=st.binary(max_size=256),
)
def test_property_other_secret_fails(secret: bytes, other: bytes, body: bytes) -> None:
    assert verify_signature(other, body, _sig(secret, body)) is (other == secret)


@given(header=st.text(max_size=100))
def test_property_garbage_headers_never_pass(header: str) -> None:
    assert verify_signature(b"k", b"body", header) is False


def _payload(action: str = "queued", **job: Any) -> dict[str, Any]:
    wj = {
        "id": 11,
        "run_id": 22,
        "run_attempt": 2,
        "labels": ["self-hosted", "linux"],
        "runner_id": None,
        "runner_name": None,
        "runner_group_name": None,
        "created_at": "2027-01-15T10:00:00Z",
        "started_at": "2027-01-15T10:00:00Z",
        "completed_at": None,
        "conclusion": None,
        **job,
    }
    return {
        "action": action,
        "workflow_job": wj,
        "repository": {"full_name": "acme/app"},
        "installation": {"id": 1001},
    }


def test_parse_queued() -> None:
    event = parse_workflow_job(json.dumps(_payload()).encode(), event="workflow_job")
    assert (event.action, event.job_id, event.run_id, event.run_attempt) == ("queued", 11, 22, 2)
    assert (event.repository, event.owner, event.repo) == ("acme/app", "acme", "app")
    assert event.installation_id == 1001 and event.labels == ["self-hosted", "linux"]
    assert event.created_at is not None and event.created_at.year == 2027
    assert event.completed_at is None and event.conclusion is None


def test_parse_completed() -> None:
    body = _payload(
        "completed",
        runner_id=5,
        runner_name="r-5",
        runner_group_name="Default",
        completed_at="2027-01-15T10:05:00Z",
        conclusion="success",
    )
    event = parse_workflow_job(json.dumps(body).encode())
    assert (event.runner_id, event.runner_name, event.runner_group_name) == (5, "r-5", "Default")
    assert event.conclusion == "success" and event.completed_at is not None


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        (b"{not json", MalformedPayload, "not JSON"),
        (b"[1, 2]", MalformedPayload, "JSON object"),
        (json.dumps({"action": "opened", "issue": {}}).encode(), UnsupportedEvent, "not a workf"),
        (json.dumps(_payload("deleted")).encode(), UnsupportedEvent, "action"),
        (json.dumps({**_payload(), "repository": {}}).encode(), MalformedPayload, "full_name"),
        (json.dumps(_payload(id="x")).encode(), MalformedPayload, "integers"),
        (json.dumps(_payload(labels="linux")).encode(), MalformedPayload, "labels"),
        (json.dumps(_payload(created_at="yesterday")).encode(), MalformedPayload, "created_at"),
    ],
)
def test_parse_errors(body: bytes, error: type[WebhookError], match: str) -> None:
    with pytest.raises(error, match=match):
        parse_workflow_job(body)


def test_other_event_header_and_size_limit() -> None:
    with pytest.raises(UnsupportedEvent, match="push"):
        parse_workflow_job(json.dumps(_payload()).encode(), event="push")
    with pytest.raises(PayloadTooLarge, match="25 MB"):
        parse_workflow_job(b" " * (MAX_BODY_BYTES + 1))


def test_in_memory_dedupe(clock: FakeClock) -> None:
    dedupe: DeliveryDedupe = InMemoryDedupe(ttl_seconds=60, clock=clock)
    assert dedupe.claim("d-1") is True
    assert dedupe.claim("d-1") is False
    assert dedupe.claim("d-2") is True
    clock.advance(61)
    assert dedupe.claim("d-1") is True  # expired and forgotten
    with pytest.raises(WebhookError, match="X-GitHub-Delivery"):
        dedupe.claim("")
    small = InMemoryDedupe(max_entries=2, clock=clock)
    for i in range(3):
        assert small.claim(f"x{i}")
    assert small.claim("x0") is True  # evicted by size


@pytest.fixture
def dynamo() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="fleet-events",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_dynamo_dedupe(dynamo: Any, clock: FakeClock) -> None:
    dedupe: DeliveryDedupe = DynamoDedupe(
        "fleet-events", dynamo, sort_key=("sk", "delivery"), clock=clock
    )
    assert dedupe.claim("abc") is True
    assert dedupe.claim("abc") is False
    assert dedupe.claim("def") is True
    item = dynamo.get_item(
        TableName="fleet-events",
        Key={"pk": {"S": "webhook-delivery#abc"}, "sk": {"S": "delivery"}},
    )["Item"]
    assert int(item["ttl"]["N"]) == int(clock() + 3 * 24 * 3600)
