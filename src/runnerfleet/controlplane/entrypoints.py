"""The control plane's Lambda entry points, one per function (Terraform names them):

- `runnerfleet.controlplane.entrypoints.webhook`: GitHub `workflow_job` deliveries through
  the function URL (payload 2.0) -> record the job, scale out.
- `runnerfleet.controlplane.entrypoints.reconcile`: the EventBridge schedule -> one reconcile
  pass (scaler with GitHub's runner list, drift healing, discovery of lost jobs).
- `runnerfleet.controlplane.entrypoints.registrar`: EC2 state changes, ASG lifecycle actions
  and the schedule -> one registration per runner instance.

Each is a few lines over the control plane that runnerfleet.controlplane.compose builds from
ControlPlaneSettings.from_env (once per process, so clients and the GitHub installation token
are reused across invocations). The reconcile and registrar functions start each invocation
with `github.begin_invocation(remaining_seconds=...)` from the Lambda context, so no GitHub
retry waits past the function's deadline (it raises BudgetExceeded at once instead); the
webhook function never builds the GitHub client. Only the standard library is imported at
module level; the zip holds runnerfleet and its Lambda dependencies, the runtime adds boto3,
and typer, rich and pydantic are never imported.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runnerfleet.controlplane.compose import ControlPlane

log = logging.getLogger("runnerfleet.controlplane")
_PLANE: ControlPlane | None = None


def _plane() -> ControlPlane:
    global _PLANE
    if _PLANE is None:
        from runnerfleet.controlplane.compose import boto3_clients, compose
        from runnerfleet.controlplane.settings import ControlPlaneSettings

        settings = ControlPlaneSettings.from_env(os.environ)
        settings.configure_logging()
        _PLANE = compose(settings, boto3_clients())
    return _PLANE


def reset(plane: ControlPlane | None = None) -> None:
    """Use `plane` for the next invocations (tests), or forget the cached one."""
    global _PLANE
    _PLANE = plane


def _begin_invocation(plane: ControlPlane, context: Any) -> None:
    """Bound this invocation's GitHub waits by the Lambda deadline
    (`context.get_remaining_time_in_millis()`); without such a context the previous
    invocation's deadline is cleared. A GitHub client without `begin_invocation` is left as is."""
    begin = getattr(plane.github, "begin_invocation", None)
    if not callable(begin):
        return
    millis = getattr(context, "get_remaining_time_in_millis", None)
    if callable(millis):
        begin(remaining_seconds=lambda: float(millis()) / 1000)
    else:
        begin()


def webhook(event: Any, context: Any = None) -> dict[str, Any]:
    """Function URL / HTTP API event -> HTTP reply (never raises: a 500 carries no detail)."""
    from runnerfleet.controlplane.webhook_handler import Reply, lambda_body
    from runnerfleet.redaction import redact

    try:
        body = lambda_body(event)
    except ValueError:
        return Reply(
            400, {"ok": False, "error": "body is marked base64 but does not decode"}
        ).to_lambda()
    headers = {str(k): str(v) for k, v in (event.get("headers") or {}).items()}
    try:
        return _plane().processor.handle(headers, body).to_lambda()
    except Exception as exc:  # the reply must not leak details; the log keeps the type
        log.error(redact(f"webhook failed: {type(exc).__name__}: {exc}"))
        return Reply(
            500, {"ok": False, "error": "internal error; see the function's log"}
        ).to_lambda()


def reconcile(event: Any, context: Any = None) -> dict[str, Any]:
    """One reconcile pass; raises when an action failed (the next scheduled pass retries)."""
    from runnerfleet.redaction import redact

    plane = _plane()
    reconciler = plane.reconciler
    _begin_invocation(plane, context)
    plan, outcomes = reconciler.run()
    result = {
        "ok": all(o.ok for o in outcomes),
        "actions": [o.as_dict() for o in outcomes],
        "findings": plan.findings,
    }
    for o in outcomes:
        log.info(redact(f"reconcile {type(o.action).__name__}: ok={o.ok} {o.detail}"))
    for finding in plan.findings:
        log.warning(redact(f"reconcile: {finding}"))
    if not result["ok"]:
        raise RuntimeError(redact(f"reconcile actions failed: {result['actions']}"))
    return result


def registrar(event: Any, context: Any = None) -> dict[str, Any]:
    """Registrar events (directly or through SQS); raises when an action failed (retried)."""
    from runnerfleet.controlplane.events import parse
    from runnerfleet.redaction import redact

    batch = parse(event)
    for why in batch.ignored:
        log.info("ignored: %s", why)
    if not batch.events and not batch.scan:
        return {"ok": True, "actions": [], "ignored": batch.ignored}
    plane = _plane()
    handler = plane.registrar
    _begin_invocation(plane, context)
    report = handler.handle(batch.events, scan=batch.scan)
    result: dict[str, Any] = report.as_dict()
    result["ignored"] = batch.ignored
    for item in result["actions"]:
        log.info(redact(f"{item['action']} {item['instance_id']}: {item['detail']}"))
    if not report.ok:
        raise RuntimeError(redact(f"registrar actions failed: {result['actions']}"))
    return result
