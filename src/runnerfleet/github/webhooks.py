"""GitHub webhooks: signature check, `workflow_job` parsing, size limit, delivery dedupe.

Entry points other code relies on:
- `verify_signature(secret, body, signature_header) -> bool`: `X-Hub-Signature-256`
  (`sha256=<hex HMAC-SHA256 of the raw body>`), compared in constant time; a missing or
  malformed header gives False.
- `parse_workflow_job(body) -> WorkflowJobEvent`; other events and malformed bodies raise
  a specific WebhookError subclass. Bodies over 25 MB (GitHub's cap) are rejected.
- `DeliveryDedupe` (`claim(delivery_id) -> bool`, True only the first time) with
  `InMemoryDedupe` for local use and `DynamoDedupe` (conditional put) in AWS. The control
  plane does not use them: it claims a delivery in the same write that records its job
  (runnerfleet.controlplane.job_table), so a failed delivery is never marked as seen.

Pure apart from DynamoDedupe's calls through the boto3 client it is given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

MAX_BODY_BYTES = 25 * 1024 * 1024
SIGNATURE_PREFIX = "sha256="
ACTIONS = ("queued", "waiting", "in_progress", "completed")


class WebhookError(Exception):
    """A webhook delivery cannot be used."""


class PayloadTooLarge(WebhookError):
    """The body is over GitHub's 25 MB limit."""


class MalformedPayload(WebhookError):
    """The body is not JSON or lacks a field a workflow_job event must have."""


class UnsupportedEvent(WebhookError):
    """A valid delivery of an event (or action) this code does not handle."""


class InvalidSignature(WebhookError):
    """The signature header is missing or does not match the body and secret."""


def verify_signature(secret: str | bytes, body: bytes, signature_header: str | None) -> bool:
    """True when `signature_header` is `sha256=` + HMAC-SHA256(secret, body) in hex."""
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("webhook secret is empty; set the secret configured on the GitHub App")
    if not isinstance(signature_header, str) or not signature_header.startswith(SIGNATURE_PREFIX):
        return False
    given = signature_header[len(SIGNATURE_PREFIX) :]
    if len(given) != 64 or any(c not in "0123456789abcdef" for c in given):
        return False
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def _time(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise MalformedPayload(
            f"workflow_job.{name} must be a timestamp string, got {_show(value)}"
        )
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"workflow_job.{name} is not an ISO 8601 time: {value!r}") from exc


@dataclass(frozen=True)
class WorkflowJobEvent:
    """The fields of a `workflow_job` delivery the control plane uses."""

    action: str
    job_id: int
    run_id: int
    run_attempt: int
    repository: str  # "owner/name"
    installation_id: int | None
    labels: list[str] = field(default_factory=list)
    runner_id: int | None = None
    runner_name: str | None = None
    runner_group_name: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    conclusion: str | None = None

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def repo(self) -> str:
        return self.repository.split("/", 1)[1]


MAX_ID = 2**63 - 1  # GitHub ids are 64-bit
MAX_LABELS = 100
MAX_TEXT = 1024


class _OutOfRange:
    """A JSON number Python cannot hold exactly (1e400, NaN): refused by every type check."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _float(text: str) -> float | _OutOfRange:
    value = float(text)
    return value if value not in (float("inf"), float("-inf")) else _OutOfRange(text)


def _int(text: str) -> int | _OutOfRange:
    return int(text) if len(text.lstrip("-")) <= 20 else _OutOfRange(text[:24] + "...")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_float=_float, parse_int=_int, parse_constant=_OutOfRange)
    except RecursionError:
        raise MalformedPayload("webhook body is nested too deeply to be a GitHub event") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"webhook body is not JSON: {exc}") from exc


def _id(value: Any, name: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if type(value) is not int or not 0 < value <= MAX_ID:
        null = " (or null)" if optional else ""
        raise MalformedPayload(
            f"{name}{null}: GitHub ids are positive 64-bit integers, got {_show(value)}"
        )
    return value


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise MalformedPayload(
            f"{name} must be a string (at most {MAX_TEXT}) or null, got {_show(value)}"
        )
    return value


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return text if len(text) <= 40 else text[:40] + "..."


def parse_workflow_job(body: bytes, *, event: str | None = None) -> WorkflowJobEvent:
    """Parse a `workflow_job` delivery. Pass the `X-GitHub-Event` header as `event` if known.

    Strict: every field used has GitHub's type (ids are positive 64-bit integers, names are
    strings or null, labels a list of strings); anything else raises MalformedPayload naming
    the field, so a body that passes the signature but not the schema is never stored."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"webhook body is {len(body)} bytes; the limit is 25 MB")
    if event is not None and event != "workflow_job":
        raise UnsupportedEvent(f"event {event!r} is not handled; only workflow_job is")
    data = _json(body)
    if not isinstance(data, dict):
        raise MalformedPayload("webhook body must be a JSON object")
    job = data.get("workflow_job")
    if job is None:
        keys = ", ".join(sorted(str(k) for k in data)[:8])
        raise UnsupportedEvent(f"not a workflow_job event (top-level keys: {keys})")
    action = data.get("action")
    if not isinstance(action, str):
        raise MalformedPayload(f"action must be a string, got {_show(action)}")
    if action not in ACTIONS:
        raise UnsupportedEvent(f"workflow_job action {action!r} is not one of {ACTIONS}")
    if not isinstance(job, dict):
        raise MalformedPayload("workflow_job must be an object")
    repo = data.get("repository")
    full_name = repo.get("full_name") if isinstance(repo, dict) else None
    if (
        not isinstance(full_name, str)
        or len(full_name) > 200
        or full_name.count("/") != 1
        or not all(full_name.split("/"))
    ):
        raise MalformedPayload(f"repository.full_name must be 'owner/name', got {_show(full_name)}")
    job_id = _id(job.get("id"), "workflow_job.id")
    run_id = _id(job.get("run_id"), "workflow_job.run_id")
    attempt = job.get("run_attempt", 1)
    run_attempt = _id(1 if attempt is None else attempt, "workflow_job.run_attempt")
    labels = job.get("labels", [])
    if (
        not isinstance(labels, list)
        or len(labels) > MAX_LABELS
        or not all(isinstance(x, str) and 0 < len(x) <= 256 for x in labels)
    ):
        raise MalformedPayload(
            f"workflow_job.labels must be a list of at most {MAX_LABELS} non-empty strings"
        )
    inst = data.get("installation")
    if inst is not None and not isinstance(inst, dict):
        raise MalformedPayload(f"installation must be an object, got {_show(inst)}")
    inst_id = _id(inst.get("id") if inst else None, "installation.id", optional=True)
    assert job_id is not None and run_id is not None and run_attempt is not None
    return WorkflowJobEvent(
        action=action,
        job_id=job_id,
        run_id=run_id,
        run_attempt=run_attempt,
        repository=full_name,
        installation_id=inst_id,
        labels=list(labels),
        runner_id=_id(job.get("runner_id"), "workflow_job.runner_id", optional=True),
        runner_name=_text(job.get("runner_name"), "workflow_job.runner_name"),
        runner_group_name=_text(job.get("runner_group_name"), "workflow_job.runner_group_name"),
        created_at=_time(job.get("created_at"), "created_at"),
        started_at=_time(job.get("started_at"), "started_at"),
        completed_at=_time(job.get("completed_at"), "completed_at"),
        conclusion=_text(job.get("conclusion"), "workflow_job.conclusion"),
    )


class DeliveryDedupe(Protocol):
    """Remembers `X-GitHub-Delivery` ids; redeliveries keep their id, so they are dropped."""

    def claim(self, delivery_id: str) -> bool:
        """True the first time an id is seen (process it), False afterwards (skip it)."""
        ...


def _check_id(delivery_id: str) -> None:
    if not delivery_id or len(delivery_id) > 200:
        raise WebhookError("X-GitHub-Delivery header is missing or malformed")


class InMemoryDedupe:
    """Thread-safe dedupe in process memory, bounded by size and age."""

    def __init__(
        self,
        ttl_seconds: float = 24 * 3600,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, delivery_id: str) -> bool:
        _check_id(delivery_id)
        now = self._clock()
        with self._lock:
            while self._seen:
                oldest_id, at = next(iter(self._seen.items()))
                if now - at < self._ttl and len(self._seen) < self._max:
                    break
                del self._seen[oldest_id]
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = now
            return True


class DynamoDedupe:
    """Dedupe in a DynamoDB table through a conditional put (atomic across Lambdas).

    Items: {key_attribute: "<prefix><delivery id>", ttl_attribute: expiry epoch}; enable
    the table's TTL on `ttl_attribute` so old ids expire. Tables with a sort key pass
    `sort_key=(name, value)`.
    """

    def __init__(
        self,
        table_name: str,
        client: Any,
        *,
        key_attribute: str = "pk",
        sort_key: tuple[str, str] | None = None,
        ttl_attribute: str = "ttl",
        prefix: str = "webhook-delivery#",
        ttl_seconds: float = 3 * 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table_name = table_name
        self._client = client
        self._key = key_attribute
        self._sort_key = sort_key
        self._ttl_attr = ttl_attribute
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._clock = clock

    def claim(self, delivery_id: str) -> bool:
        _check_id(delivery_id)
        item: dict[str, Any] = {
            self._key: {"S": f"{self._prefix}{delivery_id}"},
            self._ttl_attr: {"N": str(int(self._clock() + self._ttl))},
        }
        if self._sort_key is not None:
            item[self._sort_key[0]] = {"S": self._sort_key[1]}
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": self._key},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
