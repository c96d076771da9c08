"""`runnerfleet registrar ...`: run the control plane's registrar locally, package it for Lambda.

- `registrar run-once`: one full scan (what the Lambda's schedule runs): registrations for new
  runner instances, clean-up after terminated ones. In the sandbox it uses the GitHub
  emulator; against AWS, the credentials in SSM /<name>/github/*.
- `registrar package --out F`: the Lambda zip that infra/modules/control-plane deploys.
Exit codes: 0 ok, 1 an action failed, 2 bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runnerfleet.commands.common import (
    ConfigOpt,
    JsonOpt,
    SandboxOpt,
    handle_errors,
    load_config,
    target_for,
)
from runnerfleet.ui import EXIT_FAILED, console, fail, print_json, redact

registrar_app = typer.Typer(
    help="The registrar: one one-shot GitHub registration per runner instance, in SSM.",
    no_args_is_help=True,
)


@registrar_app.command("run-once")
@handle_errors
def run_once(config: ConfigOpt = None, sandbox: SandboxOpt = None, json: JsonOpt = False) -> None:
    """Run one full registrar scan against the fleet and print what it did."""
    cfg, project = load_config(config)
    target = target_for(cfg, project, sandbox, start=False)
    from runnerfleet.controlplane.local import plane_for
    from runnerfleet.controlplane.ssm_store import CredentialsError

    try:
        report = plane_for(cfg, target).registrar.run_once()
    except CredentialsError as exc:
        fail(str(exc), EXIT_FAILED)
    doc = report.as_dict()
    if json:
        print_json(doc)
    else:
        out = console()
        if not doc["actions"]:
            out.print("nothing to do: every runner instance has its registration")
        for row in doc["actions"]:
            mark = "ok" if row["ok"] else "FAILED"
            line = f"{mark:7} {row['action']} {row['instance_id']}: {row['detail']}"
            out.print(redact(line), markup=False)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@registrar_app.command("package")
def package(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the zip.")] = Path(
        "build/control-plane.zip"
    ),
    with_dependencies: Annotated[
        bool,
        typer.Option(
            "--with-dependencies/--no-dependencies",
            help="Bundle httpx and PyJWT for the Lambda platform (needs PyPI). "
            "The sandbox never runs the function and does not need them.",
        ),
    ] = True,
    json: JsonOpt = False,
) -> None:
    """Build the registrar's Lambda package (deterministic zip)."""
    from runnerfleet.controlplane.packaging import PackagingError, build_package

    try:
        pkg = build_package(out, with_dependencies=with_dependencies)
    except PackagingError as exc:
        fail(str(exc), EXIT_FAILED)
    doc = {"path": str(pkg.path), "sha256": pkg.sha256, "files": pkg.files, "bytes": pkg.size}
    if json:
        print_json(doc)
    else:
        console().print(
            f"wrote {pkg.path}: {pkg.files} files, {pkg.size} bytes, sha256 {pkg.sha256}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(registrar_app, name="registrar")
