"""Lambda entry points of the control plane's registrar.

`registrar_handler` takes EventBridge events (EC2 state changes, ASG lifecycle actions, the
periodic schedule), directly or through SQS, and runs the registrar. The Registrar (and with
it the GitHub client and its cached App installation token) is built once per process and
reused across invocations. Heavy imports happen on first use, so a cold start stays short.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("runnerfleet.controlplane")
log.setLevel(os.environ.get("RUNNERFLEET_LOG_LEVEL", "INFO"))

_REGISTRAR: Any = None


def _registrar() -> Any:
    global _REGISTRAR
    if _REGISTRAR is None:
        import boto3

        from runnerfleet.controlplane.registrar import RegistrarSettings
        from runnerfleet.controlplane.wiring import build_registrar

        settings = RegistrarSettings.from_env(os.environ)
        session = boto3.session.Session()

        def client(service: str) -> Any:
            return session.client(service)  # type: ignore[call-overload]

        _REGISTRAR = build_registrar(
            settings,
            client,
            claims_table=os.environ.get("RUNNERFLEET_TABLE") or None,
            github_secret_id=os.environ.get("RUNNERFLEET_GITHUB_SECRET_ID") or None,
        )
    return _REGISTRAR


def reset() -> None:
    """Forget the cached Registrar (tests; a new process does this implicitly)."""
    global _REGISTRAR
    _REGISTRAR = None


def registrar_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Handle one invocation; raises when an action failed so that the event is retried."""
    from runnerfleet.controlplane.events import parse
    from runnerfleet.redaction import redact

    batch = parse(event)
    for why in batch.ignored:
        log.info("ignored: %s", why)
    if not batch.events and not batch.scan:
        return {"ok": True, "actions": [], "ignored": batch.ignored}
    report = _registrar().handle(batch.events, scan=batch.scan)
    result: dict[str, Any] = report.as_dict()
    result["ignored"] = batch.ignored
    for item in result["actions"]:
        log.info(redact(f"{item['action']} {item['instance_id']}: {item['detail']}"))
    if not report.ok:
        raise RuntimeError(redact(f"registrar actions failed: {result['actions']}"))
    return result
