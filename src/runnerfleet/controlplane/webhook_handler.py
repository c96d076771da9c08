"""GitHub `workflow_job` webhook: verify, record the job, scale out.

`WebhookProcessor.handle(headers, body)` is the whole logic, shared by the Lambda function
(runnerfleet.controlplane.entrypoints.webhook, behind a function URL) and the local server
(`runnerfleet serve`, runnerfleet.controlplane.server). In order:

1. Body size (GitHub's 25 MB cap) -> 413.
2. `X-Hub-Signature-256` verified over the raw body before anything else is read -> 401.
3. `X-GitHub-Event`: `ping` -> 200; other events -> 202 (ignored); missing -> 400.
4. `X-GitHub-Delivery` missing -> 400; a delivery seen before -> 200 (duplicate, no work).
5. Parse; a malformed body -> 400 naming the field. Jobs for GitHub-hosted runners
   (no `self-hosted` label and no pool that fits) -> 202, not recorded.
6. Record the job (monotonic status, see runnerfleet.controlplane.queue), run the scaler on
   the fleet's groups and hosts without asking GitHub (the fast path scales out and
   protects busy hosts; scale-in is the periodic reconcile's job), perform its actions and
   publish `QueuedJobs`.

Nothing secret is logged: log lines carry ids, actions and reasons, passed through
runnerfleet.redaction.redact (dependency-free). Module import is kept light (no boto3 until
the first invocation) for the Lambda cold start; see benchmarks/scaler_decisions.py.

Built by runnerfleet.controlplane.compose from ControlPlaneSettings (whose docstring lists
the Lambda environment).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runnerfleet.controlplane.queue import JobStore, JobUpdate
from runnerfleet.controlplane.scaler import Pool, ScalerSettings, match_pool
from runnerfleet.github import webhooks
from runnerfleet.redaction import redact

log = logging.getLogger("runnerfleet.controlplane.webhook")
log.setLevel(os.environ.get("RUNNERFLEET_LOG_LEVEL", "INFO"))


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]

    def to_lambda(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(self.body),
        }


def _bad(status: int, reason: str) -> Reply:
    return Reply(status, {"ok": False, "error": reason})


@dataclass
class WebhookProcessor:
    """Webhook logic with its stores and the fleet injected (see module docstring)."""

    secret: str = field(repr=False)
    dedupe: webhooks.DeliveryDedupe
    jobs: JobStore
    pools: Sequence[Pool]
    fleet: Any = None  # runnerfleet.controlplane.fleet.Fleet; None: record only
    metrics: Any = None  # runnerfleet.controlplane.metrics.Metrics
    scaler_settings: ScalerSettings = field(default_factory=ScalerSettings)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError(
                "the webhook secret is empty; set the same secret on the GitHub App (or "
                "webhook) and in the control plane (SSM /<name>/github/webhook-secret)"
            )

    def handle(self, headers: Mapping[str, str], body: bytes) -> Reply:
        h = {k.lower(): v for k, v in headers.items()}
        if len(body) > webhooks.MAX_BODY_BYTES:
            return _bad(413, f"body is {len(body)} bytes; GitHub never sends more than 25 MB")
        if not webhooks.verify_signature(self.secret, body, h.get("x-hub-signature-256")):
            why = "missing" if not h.get("x-hub-signature-256") else "does not match the body"
            return _bad(
                401,
                f"X-Hub-Signature-256 {why}; the webhook secret on GitHub and in the control "
                "plane must be the same",
            )
        event = h.get("x-github-event")
        if not event:
            return _bad(400, "X-GitHub-Event header is missing")
        if event == "ping":
            return Reply(200, {"ok": True, "pong": True})
        if event != "workflow_job":
            return Reply(202, {"ok": True, "ignored": f"event {event!r} is not handled"})
        delivery = h.get("x-github-delivery", "")
        if not delivery or len(delivery) > 200:
            return _bad(400, "X-GitHub-Delivery header is missing or malformed")
        try:
            ev = webhooks.parse_workflow_job(body, event=event)
        except webhooks.UnsupportedEvent as exc:
            return Reply(202, {"ok": True, "ignored": str(exc)})
        except webhooks.WebhookError as exc:
            return _bad(400, f"malformed workflow_job body: {exc}")
        if not self.dedupe.claim(delivery):
            return Reply(200, {"ok": True, "duplicate": delivery})
        return self._record(ev, delivery)

    def _ours(self, labels: Sequence[str]) -> bool:
        lowered = {x.lower() for x in labels}
        return "self-hosted" in lowered or match_pool(labels, self.pools) is not None

    def _record(self, ev: webhooks.WorkflowJobEvent, delivery: str) -> Reply:
        if not self._ours(ev.labels):
            return Reply(
                202, {"ok": True, "ignored": f"job {ev.job_id} is not for self-hosted runners"}
            )
        now = self.clock()
        update = JobUpdate.from_event(ev, now)
        recorded = self.jobs.record(update, now)
        log.info(redact(f"delivery {delivery}: job {ev.job_id} {ev.action} recorded={recorded}"))
        result: dict[str, Any] = {
            "ok": True,
            "job_id": ev.job_id,
            "status": ev.action,
            "recorded": recorded,
            "actions": [],
        }
        if recorded:
            result["actions"] = self.scale(now)
            result["ok"] = all(a["ok"] for a in result["actions"])
        return Reply(200, result)

    def scale(self, now: float) -> list[dict[str, Any]]:
        """Fast path: the scaler on groups and hosts, without GitHub's runner list."""
        from runnerfleet.controlplane import scaler
        from runnerfleet.controlplane.metrics import queued_count

        jobs = self.jobs.jobs(now)
        if self.metrics is not None:
            self.metrics.publish_queued(queued_count(jobs, self.pools), now)
        if self.fleet is None:
            return []
        groups = self.fleet.groups()
        pools = scaler.with_group_bounds(
            self.pools, {p: (g.min_size, g.max_size) for p, g in groups.items()}
        )
        hosts = self.fleet.hosts(groups)
        snap = scaler.Snapshot(
            pools=pools,
            jobs=jobs,
            instances=[h.instance for h in hosts],
            groups={p: g.as_group() for p, g in groups.items()},
            now=now,
            runners=None,
        )
        actions = scaler.decide(snap, self.scaler_settings)
        outcomes = self.fleet.execute(actions, groups, now)
        for o in outcomes:
            log.info(redact(f"{type(o.action).__name__} {o.action.pool}: ok={o.ok} {o.detail}"))
        return [o.as_dict() for o in outcomes]


# ---- Lambda event shape ------------------------------------------------------------------
def lambda_body(event: Mapping[str, Any]) -> bytes:
    """The raw body of a function-URL / HTTP API event (base64 when binary)."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw)
    return raw.encode() if isinstance(raw, str) else bytes(raw)
