"""`runnerfleet github-emulator`: run the local GitHub emulator as its own process.

Prints the URL and App id (never the token or key); credentials go to the state file
(mode 0600) for other processes. Drive it with runnerfleet.github.emulator.EmulatorControl.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from runnerfleet.ui import EXIT_CONFIG, EXIT_FAILED, console, fail, print_json


def github_emulator(
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one).")] = 0,
    host: Annotated[str, typer.Option("--host", help="Loopback address to bind.")] = "127.0.0.1",
    state_file: Annotated[
        Path | None,
        typer.Option(
            "--state-file",
            help="Write url, app id, App key path and token here (JSON, mode 0600).",
        ),
    ] = None,
    owner: Annotated[
        list[str] | None,
        typer.Option("--owner", help="Create an App installation for this org (repeatable)."),
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="Deliver workflow_job webhooks here.")
    ] = None,
    webhook_secret_env: Annotated[
        str | None,
        typer.Option(
            "--webhook-secret-env",
            help="Name of the environment variable holding the webhook secret.",
        ),
    ] = None,
    validate: Annotated[
        bool | None,
        typer.Option(
            "--validate/--no-validate",
            help="Check every response and webhook against GitHub's OpenAPI description "
            "(needs the dev extras). Default: on when RFLEET_GITHUB_SPEC_VALIDATE=1.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Run a local GitHub (REST API, runners, job queue, webhooks) until interrupted."""
    from runnerfleet.github.emulator import GitHubEmulator
    from runnerfleet.github.emulator.standalone import serve_until_signalled, write_state

    secret = None
    if webhook_secret_env:
        secret = os.environ.get(webhook_secret_env)
        if not secret:
            fail(
                f"--webhook-secret-env {webhook_secret_env}: that environment variable is "
                "unset or empty; export the webhook secret in it first",
                EXIT_CONFIG,
            )
    if secret and not webhook_url:
        fail("--webhook-secret-env needs --webhook-url (where to deliver)", EXIT_CONFIG)
    if not 0 <= port <= 65535:
        fail(f"--port {port}: must be between 0 and 65535", EXIT_CONFIG)
    try:
        emulator = GitHubEmulator(
            host, port, webhook_url=webhook_url, webhook_secret=secret, validate=validate
        )
        url = emulator.start()
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_FAILED)
    for name in owner or []:
        emulator.add_installation(name)
    if state_file is not None:
        write_state(emulator, state_file)
    info = {
        "url": url,
        "app_id": emulator.app_id,
        "state_file": str(state_file) if state_file else None,
        "installations": sorted(owner or []),
    }
    if json_out:
        print_json(info)
    else:
        out = console()
        out.print(f"GitHub emulator listening on {url} (App id {emulator.app_id})")
        if state_file:
            out.print(f"credentials written to {state_file} (mode 0600)")
        out.print("press Ctrl-C to stop")
    serve_until_signalled(emulator)


def register(app: typer.Typer) -> None:
    app.command("github-emulator")(github_emulator)
