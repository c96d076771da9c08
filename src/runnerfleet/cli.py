"""The `runnerfleet` command line: parses flags, calls the library, renders results.

Thin by design: no boto3 or subprocess here. Exit codes: 0 ok, 1 operation failed,
2 usage or config error, 3 changes pending (plan).

Command groups that belong to one area live in `runnerfleet.commands.<area>` modules
that expose `register(app)`; this module wires them in.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from runnerfleet import __version__
from runnerfleet.ui import EXIT_CONFIG, EXIT_FAILED, console, fail

app = typer.Typer(
    name="runnerfleet",
    help="Self-hosted GitHub Actions runners on AWS. With no AWS account configured, every "
    "command runs against a local sandbox (an embedded AWS emulator and GitHub emulator).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules, each exposing register(app). Order is the order in --help.
COMMAND_MODULES = (
    "runnerfleet.commands.lifecycle",  # init, up, down, status, plan, destroy
    "runnerfleet.commands.state",  # backend bootstrap, state versions/restore/lock/unlock
    "runnerfleet.commands.github",  # github-emulator
    "runnerfleet.commands.render",  # render user-data
    "runnerfleet.commands.controlplane",  # registrar run-once
    "runnerfleet.commands.controlplane_serve",  # serve, reconcile
    "runnerfleet.commands.cost",  # cost
    "runnerfleet.commands.sandbox_jobs",  # jobs, sandbox queue/runtime
)


def _version(value: bool) -> None:
    if value:
        console().print(f"runnerfleet {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """runnerfleet: self-hosted GitHub Actions runners on AWS."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main() -> None:
    """Console-script entry point; maps library errors to exit codes."""
    from runnerfleet.config import ConfigError

    try:
        app(standalone_mode=True)
    except ConfigError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    except KeyboardInterrupt:
        console(stderr=True).print("interrupted")
        sys.exit(130)


__all__ = ["EXIT_FAILED", "Path", "app", "main"]


if __name__ == "__main__":
    main()
