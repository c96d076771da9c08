"""Triggers as AWS delivers them: the function URL, EventBridge rules, schedules and SQS.

- `FunctionUrlServer`: the webhook function's URL on 127.0.0.1. Each request becomes the
  function-URL event (payload format 2.0: `rawPath`, lower-cased `headers`, `requestContext`
  with `http`, `body` base64-encoded unless the content type is text, `isBase64Encoded`), and
  the function's reply becomes the HTTP response (`statusCode`/`headers`/`body`; a reply
  without `statusCode` is a 200 JSON body; a function error is 502). Lambda answers 403
  Forbidden when the function's resource policy has no `lambda:InvokeFunctionUrl` for `*`.
  `DeliveryFaults` can drop or duplicate deliveries (tests: lost and redelivered webhooks).
- `EventBus`: events in EventBridge's envelope (`version`, `id`, `detail-type`, `source`,
  `account`, `time`, `region`, `resources`, `detail`) go to the targets of every enabled
  rule whose pattern matches: a Lambda target is invoked asynchronously (when the
  function's policy lets events.amazonaws.com invoke it from that rule), an SQS target gets
  the event as the message body. `SqsPoller` runs the event-source mappings (SQS event with
  `Records`).
- `Scheduler`: rules with `rate(...)` run at their rate divided by the sandbox's clock factor.
- `AsyncInvoker`: Lambda's asynchronous invocation: a queue per function, two retries after
  a failure (1 and 2 minutes, compressed by the clock factor).
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from runnerfleet.sandboxrt.functions import RuleSpec, Stack

log = logging.getLogger("runnerfleet.sandbox.triggers")

Invoke = Callable[[str, Any], Any]  # (function name, event) -> result; raises on error


@dataclass(frozen=True)
class Clock:
    """The sandbox's clock factor: AWS seconds per real second (1 = real time)."""

    factor: float = 1.0

    def real(self, aws_seconds: float) -> float:
        return aws_seconds / self.factor


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float:
    """`rate(5 minutes)` -> 300.0; cron expressions are refused with the rule to use."""
    m = _RATE.match(expression.strip())
    if not m:
        raise ValueError(
            f"schedule {expression!r}: the sandbox runs rate(N unit) schedules only; use "
            "rate(1 minute) style expressions for the control plane's rules"
        )
    return int(m.group(1)) * _UNIT[m.group(2)]


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    detail_type: str,
    source: str,
    detail: Mapping[str, Any],
    *,
    account: str,
    region: str,
    resources: list[str],
) -> dict[str, Any]:
    """An event as EventBridge delivers it to a target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": _now_iso(),
        "region": region,
        "resources": resources,
        "detail": dict(detail),
    }


def ec2_state_event(instance_id: str, state: str, *, account: str, region: str) -> dict[str, Any]:
    return envelope(
        "EC2 Instance State-change Notification",
        "aws.ec2",
        {"instance-id": instance_id, "state": state},
        account=account,
        region=region,
        resources=[f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
    )


# What the EC2 watch lists: every state but `terminated`. AWS (and moto) keep terminated
# instances listed for a while, and moto's DescribeInstances costs grow with each one it
# serializes (most of the emulator's CPU in the suite went there at two polls a second). An
# instance that leaves the listing has been terminated.
EC2_LIVE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")
_EC2_ORDER = ("pending", "running", "shutting-down", "terminated")
Instances = dict[str, tuple[str, dict[str, str]]]  # id -> (state, tags)


@dataclass(frozen=True)
class Ec2Change:
    """One instance's change between two listings, as EventBridge would announce it."""

    instance_id: str
    before: str | None
    state: str
    steps: tuple[str, ...]  # the state-change notifications, in order
    tags: dict[str, str]

    @property
    def launching(self) -> bool:
        return self.before is None and self.state in ("pending", "running")

    @property
    def terminating(self) -> bool:
        return self.before in ("pending", "running") and self.state in (
            "shutting-down", "terminated",
        )  # fmt: skip


def ec2_changes(known: Instances, live: Instances) -> list[Ec2Change]:
    """The changes from `known` (the last listing) to `live` (this one, without terminated
    instances): a known instance missing from `live` is terminated, with its last tags.

    AWS announces every step; moto may jump over some (pending -> terminated), so the steps
    in between are announced too. An instance first seen shutting down or terminated is
    announced by nothing: it was gone before the watch saw it."""
    now = dict(live)
    for iid, (state, tags) in known.items():
        if iid not in live and state != "terminated":
            now[iid] = ("terminated", tags)
    changes: list[Ec2Change] = []
    for iid, (state, tags) in now.items():
        before = known[iid][0] if iid in known else None
        if before == state:
            continue
        steps: tuple[str, ...] = (state,)
        if state in _EC2_ORDER:
            start = _EC2_ORDER.index(before) + 1 if before in _EC2_ORDER else 0
            steps = _EC2_ORDER[start : _EC2_ORDER.index(state) + 1] or (state,)
            if before is None and state in ("shutting-down", "terminated"):
                steps = ()
        changes.append(Ec2Change(iid, before, state, steps, tags))
    return changes


LIFECYCLE_DETAIL_TYPES = {
    "autoscaling:EC2_INSTANCE_LAUNCHING": "EC2 Instance-launch Lifecycle Action",
    "autoscaling:EC2_INSTANCE_TERMINATING": "EC2 Instance-terminate Lifecycle Action",
}


def lifecycle_event(
    group: str, hook: str, instance_id: str, transition: str, token: str,
    metadata: str | None = None, *, account: str, region: str,
) -> dict[str, Any]:  # fmt: skip
    """An Auto Scaling lifecycle action as EventBridge delivers it."""
    detail: dict[str, Any] = {
        "LifecycleActionToken": token,
        "AutoScalingGroupName": group,
        "LifecycleHookName": hook,
        "EC2InstanceId": instance_id,
        "LifecycleTransition": transition,
        "Origin": "EC2" if transition.endswith("LAUNCHING") else "AutoScalingGroup",
        "Destination": "AutoScalingGroup" if transition.endswith("LAUNCHING") else "EC2",
    }
    if metadata:
        detail["NotificationMetadata"] = metadata
    arn = f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{group}"
    return envelope(
        LIFECYCLE_DETAIL_TYPES[transition], "aws.autoscaling", detail,
        account=account, region=region, resources=[arn],
    )  # fmt: skip


def scheduled_event(rule_arn: str, *, account: str, region: str) -> dict[str, Any]:
    return envelope(
        "Scheduled Event", "aws.events", {}, account=account, region=region, resources=[rule_arn]
    )


# ---- event patterns ----------------------------------------------------------------------
def _value_matches(cond: Any, value: Any, present: bool) -> bool:
    if isinstance(cond, dict):
        if "exists" in cond:
            return bool(cond["exists"]) == present
        if not present:
            return False
        if "prefix" in cond:
            return isinstance(value, str) and value.startswith(str(cond["prefix"]))
        if "anything-but" in cond:
            but = cond["anything-but"]
            return value not in (but if isinstance(but, list) else [but])
        raise ValueError(f"event pattern operator {sorted(cond)} is not supported here")
    return present and cond == value


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge pattern matching (values, prefix, anything-but, exists; nested fields)."""
    for key, cond in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(cond, dict) and not _is_operator(cond):
            if not isinstance(value, dict) or not matches(cond, value):
                return False
            continue
        if not isinstance(cond, list):
            raise ValueError(f"event pattern field {key!r} must be a list or an object")
        values = value if isinstance(value, list) else [value]
        if not any(_value_matches(c, v, present) for c in cond for v in values):
            return False
    return True


def _is_operator(cond: Mapping[str, Any]) -> bool:
    return bool(set(cond) & {"exists", "prefix", "anything-but", "numeric", "suffix"})


# ---- asynchronous invocation -------------------------------------------------------------
RETRY_DELAYS = (60.0, 120.0)  # Lambda's async retries (AWS seconds)


class AsyncInvoker:
    """Lambda's event (asynchronous) invocation, one queue per function."""

    def __init__(self, invoke: Invoke, clock: Clock) -> None:
        self._invoke = invoke
        self._clock = clock
        self._queues: dict[str, queue.Queue[tuple[Any, int] | None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.failures: list[tuple[str, str]] = []

    def submit(self, function: str, event: Any) -> None:
        with self._lock:
            q = self._queues.get(function)
            if q is None:
                q = self._queues[function] = queue.Queue()
                threading.Thread(
                    target=self._run, args=(function, q), name=f"async-{function}", daemon=True
                ).start()
        q.put((event, 0))

    def _run(self, function: str, q: queue.Queue[tuple[Any, int] | None]) -> None:
        while not self._stop.is_set():
            item = q.get()
            if item is None:
                return
            event, attempt = item
            try:
                self._invoke(function, event)
            except Exception as exc:
                log.warning("async invoke %s failed (attempt %d): %s", function, attempt + 1, exc)
                if attempt < len(RETRY_DELAYS):
                    delay = self._clock.real(RETRY_DELAYS[attempt])
                    timer = threading.Timer(delay, q.put, args=((event, attempt + 1),))
                    timer.daemon = True
                    timer.start()
                else:
                    self.failures.append((function, str(exc)))

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for q in self._queues.values():
                q.put(None)


# ---- EventBridge -------------------------------------------------------------------------
class EventBus:
    """The default event bus of the sandbox: rules and targets from the applied stack."""

    def __init__(self, stack: Stack, invoker: AsyncInvoker, sqs: Any = None) -> None:
        self.stack = stack
        self.invoker = invoker
        self.sqs = sqs
        self.delivered: list[tuple[str, str]] = []  # (rule, target arn)

    def put(self, event: Mapping[str, Any]) -> int:
        """Deliver to every matching rule's targets; returns how many deliveries."""
        count = 0
        for rule in self.stack.rules:
            if not rule.enabled or rule.event_pattern is None:
                continue
            if matches(rule.event_pattern, event):
                count += self.to_targets(rule, event)
        return count

    def to_targets(self, rule: RuleSpec, event: Mapping[str, Any]) -> int:
        count = 0
        for target in rule.targets:
            payload: Any = json.loads(target.input) if target.input else dict(event)
            if ":lambda:" in target.arn:
                fn = self.stack.function(target.arn)
                if fn is None:
                    log.error("rule %s: target %s is not a deployed function", rule.name,
                              target.arn)  # fmt: skip
                    continue
                if not self.stack.allows(
                    fn.name, "lambda:InvokeFunction", "events.amazonaws.com", rule.arn
                ):
                    log.error(
                        "rule %s cannot invoke %s: its resource policy does not allow "
                        "lambda:InvokeFunction by events.amazonaws.com from %s (add an "
                        "aws_lambda_permission)", rule.name, fn.name, rule.arn,
                    )  # fmt: skip
                    continue
                self.invoker.submit(fn.name, payload)
            elif ":sqs:" in target.arn and self.sqs is not None:
                url = self.stack.queues.get(target.arn)
                if not url:
                    log.error("rule %s: queue %s is not in the stack", rule.name, target.arn)
                    continue
                self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(payload))
            else:
                log.error("rule %s: target %s is not supported", rule.name, target.arn)
                continue
            self.delivered.append((rule.name, target.arn))
            count += 1
        return count


class Scheduler:
    """Runs each `rate(...)` rule at its (compressed) rate, from a thread per rule."""

    def __init__(self, bus: EventBus, clock: Clock, *, account: str, region: str) -> None:
        self.bus, self.clock = bus, clock
        self.account, self.region = account, region
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.fired: dict[str, int] = {}

    def start(self) -> None:
        for rule in self.bus.stack.rules:
            if rule.schedule and rule.enabled:
                try:
                    period = self.clock.real(rate_seconds(rule.schedule))
                except ValueError as exc:
                    log.error("rule %s: %s", rule.name, exc)
                    continue
                t = threading.Thread(
                    target=self._run, args=(rule, period), name=f"rate-{rule.name}", daemon=True
                )
                t.start()
                self._threads.append(t)

    def _run(self, rule: RuleSpec, period: float) -> None:
        while not self._stop.wait(period):
            event = scheduled_event(rule.arn, account=self.account, region=self.region)
            self.fired[rule.name] = self.fired.get(rule.name, 0) + 1
            self.bus.to_targets(rule, event)

    def stop(self) -> None:
        self._stop.set()


class SqsPoller:
    """Lambda's SQS event-source mappings: receive, invoke with `Records`, delete on success."""

    def __init__(self, stack: Stack, sqs: Any, invoke: Invoke, *, region: str) -> None:
        self.stack, self.sqs, self._invoke, self.region = stack, sqs, invoke, region
        self._stop = threading.Event()

    def start(self) -> None:
        for mapping in self.stack.mappings:
            fn = self.stack.function(mapping.function)
            url = self.stack.queues.get(mapping.source_arn)
            if mapping.enabled and fn is not None and url:
                threading.Thread(
                    target=self._run, args=(mapping.source_arn, url, fn.name, mapping.batch_size),
                    name=f"sqs-{fn.name}", daemon=True,
                ).start()  # fmt: skip

    def _run(self, arn: str, url: str, function: str, batch: int) -> None:
        while not self._stop.is_set():
            try:
                got = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(batch, 10), WaitTimeSeconds=1,
                    AttributeNames=["All"],
                )  # fmt: skip
            except Exception as exc:
                log.warning("sqs receive %s: %s", url, exc)
                self._stop.wait(1.0)
                continue
            messages = got.get("Messages", [])
            if not messages:
                continue
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": self.region,
                }
                for m in messages
            ]
            try:
                self._invoke(function, {"Records": records})
            except Exception as exc:  # messages return to the queue after their visibility
                log.warning("sqs batch for %s failed: %s", function, exc)
                continue
            for m in messages:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def stop(self) -> None:
        self._stop.set()


# ---- the function URL --------------------------------------------------------------------
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml",
               "application/x-www-form-urlencoded", "+json", "+xml")  # fmt: skip


def _is_text(content_type: str) -> bool:
    ct = content_type.lower()
    return any(t in ct for t in _TEXT_TYPES)


def function_url_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    url_id: str,
    region: str,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The event a function URL passes to its function (payload format version 2.0)."""
    parts = urlsplit(target)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for k, v in headers:
        key = k.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in v.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{v}" if key in merged else v
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": f"{url_id}.lambda-url.{region}.on.aws",
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if parts.query:
        params: dict[str, str] = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            params[k] = f"{params[k]},{v}" if k in params else v
        event["queryStringParameters"] = params
    if body:
        if _is_text(merged.get("content-type", "")):
            event["body"] = body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def http_reply(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A function's result as the function URL's HTTP response."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        return int(result["statusCode"]), headers, body
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()


@dataclass
class DeliveryFaults:
    """Lose or repeat deliveries to the function URL (seeded, so a run is reproducible).

    A dropped delivery never reaches the function and the sender sees a 504 (as when GitHub's
    delivery times out; GitHub does not retry on its own). A duplicated one is handed to the
    function twice with the same X-GitHub-Delivery (as a redelivery).
    """

    drop: float = 0.0
    duplicate: float = 0.0
    seed: int = 0
    dropped: int = 0
    duplicated: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is {value}; give a fraction between 0 and 1")
        self._rng.seed(self.seed)

    def decide(self) -> str:
        with self._lock:
            roll = self._rng.random()
            if roll < self.drop:
                self.dropped += 1
                return "drop"
            if roll < self.drop + self.duplicate:
                self.duplicated += 1
                return "duplicate"
            return "deliver"


class FunctionUrlServer:
    """The webhook function's URL on a loopback port (the stack decides which function)."""

    def __init__(self, stack_ref: Callable[[], Stack], invoke: Invoke, *, region: str,
                 host: str = "127.0.0.1", port: int = 0) -> None:  # fmt: skip
        self.stack_ref, self.invoke, self.region = stack_ref, invoke, region
        self.faults = DeliveryFaults()
        self._server = ThreadingHTTPServer((host, port), _url_handler(self))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.requests = 0

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="function-url",
                         daemon=True).start()  # fmt: skip

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
               ) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        self.requests += 1
        stack = self.stack_ref()
        fn = stack.url_function()
        if fn is None:
            return 404, {"content-type": "application/json"}, b'{"Message":"Not Found"}'
        if not stack.allows(fn.name, "lambda:InvokeFunctionUrl", "*"):
            return 403, {"content-type": "application/json"}, b'{"Message":"Forbidden"}'
        fate = self.faults.decide()
        if fate == "drop":
            log.info("function URL: delivery dropped (fault injection)")
            return 504, {"content-type": "application/json"}, b'{"Message":"Timed out"}'
        url_id = (stack.urls.get(fn.name) or "sandbox").split("//")[-1].split(".")[0]
        event = function_url_event(method, target, headers, body, url_id=url_id,
                                   region=self.region)  # fmt: skip
        try:
            result = self.invoke(fn.name, event)
            if fate == "duplicate":
                result = self.invoke(fn.name, event)
        except Exception as exc:
            log.error("function URL: %s", exc)
            return 502, {"content-type": "application/json"}, b'{"Message":"Internal Server Error"}'
        return http_reply(result)


def _url_handler(front: FunctionUrlServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, data = front.handle(
                self.command, self.path, list(self.headers.items()), body
            )
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll `predicate` (for supervisors, not tests' timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
