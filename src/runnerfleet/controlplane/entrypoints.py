"""The control plane's Lambda entry points, one per function (Terraform names them):

- `runnerfleet.controlplane.entrypoints.webhook`: GitHub `workflow_job` deliveries through
  the function URL (payload 2.0) -> record the job, scale out.
- `runnerfleet.controlplane.entrypoints.reconcile`: the EventBridge schedule -> one reconcile
  pass (scaler with GitHub's runner list, drift healing).
- `runnerfleet.controlplane.entrypoints.registrar`: EC2 state changes, ASG lifecycle actions
  and the schedule -> one registration per runner instance.

Each is a few lines over the composed control plane; nothing is imported at module level
beyond the standard library, so the zip (runnerfleet + the runtime's boto3) starts fast and
never reaches for typer, rich or pydantic.
"""

from __future__ import annotations

from typing import Any


def webhook(event: Any, context: Any = None) -> dict[str, Any]:
    """Function URL / HTTP API event -> HTTP reply (never raises: a 500 carries no detail)."""
    from runnerfleet.controlplane import webhook_handler

    return webhook_handler.handler(event, context)


def reconcile(event: Any, context: Any = None) -> dict[str, Any]:
    """One reconcile pass; raises when an action failed (the next scheduled pass retries)."""
    from runnerfleet.controlplane import webhook_handler

    return webhook_handler.reconcile_handler(event, context)


def registrar(event: Any, context: Any = None) -> dict[str, Any]:
    """Registrar events (directly or through SQS); raises when an action failed (retried)."""
    from runnerfleet.controlplane import handlers

    return handlers.registrar_handler(event, context)
