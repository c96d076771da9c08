"""`runnerfleet serve` and `runnerfleet reconcile`: the control plane run locally.

`serve` runs the webhook endpoint (the Lambda's logic) on a loopback address with a
periodic reconcile pass; `reconcile` runs one pass (drift healing + scaling decisions) and
prints what it did, `--json` for scripts. Exit codes: 0 ok, 1 an action failed, 2 bad input.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from typing import Annotated, Any

import typer

from runnerfleet.commands.common import ConfigOpt, JsonOpt, SandboxOpt, handle_errors, load_config
from runnerfleet.ui import EXIT_CONFIG, EXIT_FAILED, console, fail, print_json, redact

# Not RUNNERFLEET_*: those are config overrides (runnerfleet.config.env_overrides).
DEFAULT_SECRET_ENV = "GITHUB_WEBHOOK_SECRET"  # noqa: S105 (a variable name, not a secret)


def plan_json(actions: list[Any], outcomes: list[Any], findings: list[str]) -> dict[str, Any]:
    """The `reconcile --json` document: each action with its outcome (None on a dry run)."""
    done = {id(o.action): o for o in outcomes}
    rows = []
    for action in actions:
        outcome = done.get(id(action))
        rows.append(
            {
                "action": type(action).__name__,
                **asdict(action),
                "ok": outcome.ok if outcome else None,
                "detail": redact(outcome.detail) if outcome else "",
            }
        )
    return {
        "ok": all(o.ok for o in outcomes),
        "actions": rows,
        "findings": [redact(f) for f in findings],
    }


@handle_errors
def serve(
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one).")] = 8787,
    host: Annotated[str, typer.Option("--host", help="Loopback address to bind.")] = "127.0.0.1",
    secret_env: Annotated[
        str,
        typer.Option(
            "--webhook-secret-env",
            help="Environment variable holding the webhook secret (else SSM "
            "/<name>/github/webhook-secret of the target).",
        ),
    ] = DEFAULT_SECRET_ENV,
    reconcile_every: Annotated[
        float,
        typer.Option(
            "--reconcile-every", help="Seconds between reconcile passes; 0 turns them off."
        ),
    ] = 60.0,
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Serve POST /webhook (GitHub workflow_job events) and GET /healthz on 127.0.0.1."""
    from runnerfleet.controlplane import server as srv
    from runnerfleet.controlplane.local import plane_for, webhook_secret

    if not 0 <= port <= 65535:
        fail(f"--port {port}: must be between 0 and 65535", EXIT_CONFIG)
    if not srv.is_loopback(host):
        fail(f"--host {host}: serve binds loopback addresses only (e.g. 127.0.0.1)", EXIT_CONFIG)
    if reconcile_every < 0:
        fail(f"--reconcile-every {reconcile_every}: give 0 (off) or more seconds", EXIT_CONFIG)
    cfg, project = load_config(config)
    from runnerfleet.target import resolve_target

    target = resolve_target(cfg, project, sandbox=sandbox, start=False)
    secret = webhook_secret(cfg, target, dict(os.environ), secret_env)
    if not secret:
        fail(
            f"no webhook secret: export {secret_env}=<the secret set on the GitHub App or "
            f"webhook>, or store it in SSM /{cfg.name}/github/webhook-secret",
            EXIT_CONFIG,
        )
    plane = plane_for(cfg, target, webhook_secret=secret)
    processor = plane.processor
    tick = None
    if reconcile_every > 0:

        def tick() -> None:
            plane.reconciler.run()

    server = srv.ControlPlaneServer(
        processor, host, port, tick=tick, tick_seconds=reconcile_every or 60.0
    )
    try:
        url = server.start()
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_FAILED)
    info = {"url": url, "webhook": f"{url}/webhook", "target": target.label}
    if json_out:
        print_json(info)
    else:
        console().print(f"control plane listening on {url} (webhook: {url}/webhook)")
        console().print(f"target: {target.label}; press Ctrl-C to stop")
    sys.stdout.flush()  # a supervising process reads the URL before the first request
    from runnerfleet.signals import wait_for_signal

    try:
        wait_for_signal()
    finally:
        server.stop()


@handle_errors
def reconcile(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and print, change nothing.")
    ] = False,
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Heal drift between GitHub runners, EC2 hosts, SSM registrations and the job queue."""
    from runnerfleet.controlplane.local import plane_for
    from runnerfleet.target import resolve_target

    cfg, project = load_config(config)
    target = resolve_target(cfg, project, sandbox=sandbox, start=False)
    plan, outcomes = plane_for(cfg, target).reconciler.run(dry_run=dry_run)
    doc = plan_json(plan.actions, outcomes, plan.findings)
    if json_out:
        print_json(doc)
    else:
        out = console()
        if not doc["actions"] and not doc["findings"]:
            out.print("no drift: nothing to do")
        for row in doc["actions"]:
            mark = "planned" if row["ok"] is None else ("ok" if row["ok"] else "FAILED")
            what = row.get("instance_id") or row.get("runner_name") or row.get("pool") or ""
            detail = row["detail"] or row.get("reason", "")
            out.print(f"{mark:8} {row['action']} {what} {detail}", markup=False)
        for finding in doc["findings"]:
            out.print(f"note     {finding}", markup=False)
    if not doc["ok"]:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("reconcile")(reconcile)
