"""GitHub `workflow_job` webhook: verify, record the job, scale out.

`WebhookProcessor.handle(headers, body)` is the whole logic, shared by the Lambda function
(runnerfleet.controlplane.entrypoints.webhook, behind a function URL) and the local server
(`runnerfleet serve`, runnerfleet.controlplane.server). In order:

1. Body size (GitHub's 25 MB cap) -> 413.
2. `X-Hub-Signature-256` verified over the raw body before anything else is read -> 401.
3. `X-GitHub-Event`: `ping` -> 200; other events -> 202 (ignored); missing -> 400.
4. `X-GitHub-Delivery` missing or malformed -> 400.
5. Parse strictly (runnerfleet.github.webhooks); a body that passes the signature but not
   the schema -> 400 naming the field, nothing stored. Jobs for GitHub-hosted runners (no
   `self-hosted` label and no pool that fits) -> 202, not recorded.
6. One atomic write (runnerfleet.controlplane.job_table): the job's status transition, its
   pool's counters and the delivery id. A delivery id already stored -> 200 duplicate. A
   failure before that write stores nothing, so GitHub's redelivery is processed; a failure
   after it releases the delivery id before the 500, for the same reason.
7. React, with constant work: `queued`/`waiting` runs the scaler's fast path on the pool's
   counters and its cached group (one read), raising capacity with one Auto Scaling call;
   `in_progress` protects the job's host from scale-in (its instance id is in the runner's
   name); `completed` changes no capacity (scale-in is the periodic pass's), but in an
   ephemeral pool it lowers the cached desired capacity by one (the host leaves with a
   decrement above the group's minimum), so the next queued job raises it again. AWS calls
   before the launch call: the write and the pool read. No event reads other jobs.

Nothing secret is logged: log lines carry ids, actions and reasons, passed through
runnerfleet.redaction.redact (dependency-free). Built by runnerfleet.controlplane.compose
from ControlPlaneSettings (whose docstring lists the Lambda environment).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from runnerfleet.controlplane import scaler
from runnerfleet.controlplane.fleet import FleetPort, GroupInfo, Outcome
from runnerfleet.controlplane.job_table import JobTable, JobUpdate, PoolView
from runnerfleet.controlplane.scaler import (
    Pool,
    ProtectInstances,
    ScalerSettings,
    SetDesiredCapacity,
    match_pool,
)
from runnerfleet.github import webhooks
from runnerfleet.redaction import redact
from runnerfleet.vocabulary import instance_of

log = logging.getLogger("runnerfleet.controlplane.webhook")
QUEUED = frozenset({"queued", "waiting"})


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


def _delivery_ok(delivery: str) -> bool:
    return 0 < len(delivery) <= 200 and all(c.isalnum() or c in "-_.:" for c in delivery)


@dataclass
class WebhookProcessor:
    """Webhook logic with its job table and the fleet injected (see module docstring)."""

    secret: str = field(repr=False)
    jobs: JobTable
    pools: Sequence[Pool]
    fleet: FleetPort | None = None  # None: record only
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
        if not _delivery_ok(delivery):
            return _bad(400, "X-GitHub-Delivery header is missing or malformed")
        try:
            ev = webhooks.parse_workflow_job(body, event=event)
        except webhooks.UnsupportedEvent as exc:
            return Reply(202, {"ok": True, "ignored": str(exc)})
        except webhooks.WebhookError as exc:
            return _bad(400, f"malformed workflow_job body: {exc}")
        pool = match_pool(ev.labels, self.pools)
        if pool is None and "self-hosted" not in {x.lower() for x in ev.labels}:
            return Reply(
                202, {"ok": True, "ignored": f"job {ev.job_id} is not for self-hosted runners"}
            )
        return self._record(ev, pool, delivery)

    def _record(self, ev: webhooks.WorkflowJobEvent, pool: Pool | None, delivery: str) -> Reply:
        now = self.clock()
        update = JobUpdate.from_event(ev, now)
        result = self.jobs.transition(update, pool.name if pool else "", delivery, now)
        if result.outcome == "duplicate":
            return Reply(200, {"ok": True, "duplicate": delivery})
        recorded = result.outcome == "recorded"
        log.info(redact(f"delivery {delivery}: job {ev.job_id} {ev.action} recorded={recorded}"))
        try:
            outcomes = self.react(update, pool, now, recorded=recorded)
        except Exception:
            try:
                self.jobs.release(delivery)  # let GitHub's redelivery in
            except Exception as exc:  # the original failure is the one to report
                log.error(redact(f"could not release delivery {delivery}: {exc}"))
            raise
        actions = [o.as_dict() for o in outcomes]
        return Reply(
            200,
            {
                "ok": all(o.ok for o in outcomes),
                "job_id": ev.job_id,
                "status": ev.action,
                "recorded": recorded,
                "actions": actions,
            },
        )

    # ---- the fast path -------------------------------------------------------------------
    def react(
        self, update: JobUpdate, pool: Pool | None, now: float, *, recorded: bool = True
    ) -> list[Outcome]:
        """What this event may change: capacity (queued) or protection (in progress)."""
        if self.fleet is None or pool is None or pool.mode != "autoscaled":
            return []
        if update.status in QUEUED:
            return self._scale_out(pool, now)
        if update.status == "in_progress" and update.runner_name:
            return self._protect(pool, update.runner_name, now)
        if update.status == "completed" and pool.ephemeral and update.runner_name and recorded:
            self.jobs.host_left(pool.name)  # its host leaves with a decrement: keep the view
        return []

    def _view(self, pool: Pool, now: float) -> PoolView:
        """The pool's counters and cached group; the group is read from Auto Scaling only
        when the table has none yet (first event after a deploy)."""
        assert self.fleet is not None
        view = self.jobs.pool(pool.name)
        if view.has_group:
            return view
        for name, g in self.fleet.groups().items():
            self.jobs.remember_group(
                name,
                asg_name=g.name,
                min_size=g.min_size,
                max_size=g.max_size,
                desired=g.desired,
                now=now,
            )
            if name == pool.name:
                view = replace(
                    view,
                    asg_name=g.name,
                    min_size=g.min_size,
                    max_size=g.max_size,
                    desired=g.desired,
                    view_at=now,
                )
        return view

    @staticmethod
    def _group(view: PoolView) -> GroupInfo:
        assert view.asg_name is not None and view.min_size is not None
        assert view.max_size is not None and view.desired is not None
        return GroupInfo(
            view.asg_name,
            view.pool,
            view.min_size,
            view.max_size,
            view.desired,
            view.last_scale_out_at,
            view.last_scale_in_at,
        )

    def _scale_out(self, pool: Pool, now: float) -> list[Outcome]:
        assert self.fleet is not None
        view = self._view(pool, now)
        if not view.has_group:
            return []  # the pool's group is not deployed; the periodic pass reports it
        group = self._group(view)
        bounded = scaler.with_group_bounds([pool], {pool.name: (group.min_size, group.max_size)})
        action = scaler.scale_out(
            bounded[0],
            group.as_group(),
            view.in_progress,
            view.queued,
            self.scaler_settings,
            now,
        )
        if action is None:
            return []
        outcomes = self.fleet.execute([action], {pool.name: group}, now)
        if outcomes[0].ok:
            recorded = self.jobs.raise_desired(pool.name, action.desired, now)
            if recorded > action.desired:  # a concurrent event raised it higher meanwhile
                again = SetDesiredCapacity(pool.name, recorded, "a concurrent raise")
                outcomes += self.fleet.execute([again], {pool.name: group}, now)
        for o in outcomes:
            log.info(redact(f"{type(o.action).__name__} {pool.name}: ok={o.ok} {o.detail}"))
        return outcomes

    def _protect(self, pool: Pool, runner_name: str, now: float) -> list[Outcome]:
        assert self.fleet is not None
        iid = instance_of(self.fleet.name, runner_name)
        if iid is None:
            return []
        view = self._view(pool, now)
        if not view.has_group:
            return []
        action = ProtectInstances(pool.name, (iid,), True)
        return self.fleet.execute([action], {pool.name: self._group(view)}, now)


# ---- Lambda event shape ------------------------------------------------------------------
def lambda_body(event: Mapping[str, Any]) -> bytes:
    """The raw body of a function-URL / HTTP API event (base64 when binary)."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw)
    return raw.encode() if isinstance(raw, str) else bytes(raw)
