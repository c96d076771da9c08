"""Options and plumbing shared by command modules: config loading, target choice, errors."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import botocore.exceptions
import typer

from runnerfleet import config as config_mod
from runnerfleet.deploy import Deployment, Reporter
from runnerfleet.oplock import OperationLocked, operation_lock
from runnerfleet.sandbox import SandboxError
from runnerfleet.target import Target, TargetError, project_home, resolve_target
from runnerfleet.terraform import TerraformError, TerraformInterrupted
from runnerfleet.ui import EXIT_CONFIG, EXIT_FAILED, console, fail, redact
from runnerfleet.workspace import WorkspaceError

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: runnerfleet.toml, or $RUNNERFLEET_CONFIG)."
    ),
]
SandboxOpt = Annotated[
    bool | None,
    typer.Option(
        "--sandbox/--aws",
        help="Force the local sandbox, or real AWS. Default: the sandbox when it is running or "
        "when no AWS credentials are configured.",
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

EXIT_INTERRUPTED = 130  # stopped by SIGINT/SIGTERM (as a shell reports it)
P = ParamSpec("P")
R = TypeVar("R")


def load_config(path: Path | None) -> tuple[config_mod.FleetConfig, Path]:
    """Load the config (exit 2 on problems); the project folder is the config's folder."""
    named = path is not None or "RUNNERFLEET_CONFIG" in os.environ
    path = path or Path(os.environ.get("RUNNERFLEET_CONFIG", config_mod.DEFAULT_CONFIG_FILE))
    try:
        cfg = config_mod.load(path, required=named)  # a file named explicitly must exist
    except config_mod.ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    # Processes this command starts (the sandbox's control plane) read the same file.
    _LOADED["config_path"] = path.resolve()
    return cfg, path.resolve().parent


_LOADED: dict[str, Path] = {}  # the config file this command loaded


def target_for(
    cfg: config_mod.FleetConfig, project: Path, sandbox: bool | None, *, start: bool
) -> Target:
    return resolve_target(
        cfg, project, sandbox=sandbox, start=start, config_path=_LOADED.get("config_path")
    )


def deployment_for(
    cfg: config_mod.FleetConfig,
    project: Path,
    sandbox: bool | None,
    *,
    start: bool,
    report: Reporter,
) -> Deployment:
    if start and (sandbox or sandbox is None):
        report("starting the sandbox emulators (if not running)")
    return Deployment(cfg, target_for(cfg, project, sandbox, start=start), report)


@contextmanager
def operation(project: Path, command: str, report: Reporter) -> Iterator[None]:
    """One operation per project folder: hold `.runnerfleet/operation.lock` (exit 1 if held)."""
    try:
        with operation_lock(project_home(project), command, report):
            yield
    except OperationLocked as exc:
        fail(str(exc), EXIT_FAILED)


@contextmanager
def progress() -> Iterator[Reporter]:
    """Progress lines go to stderr, so --json output on stdout stays parseable."""
    err = console(stderr=True)

    def report(line: str) -> None:
        if line.strip():
            err.print(f"[dim]{redact(line)}[/]", markup=True, highlight=False)

    yield report


def _known_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [
        TerraformError,
        TargetError,
        SandboxError,
        WorkspaceError,
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
    ]
    try:
        from runnerfleet.backend import BackendError

        errors.append(BackendError)
    except ImportError:
        pass
    return tuple(errors)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into a clear message and exit 1 (config errors: exit 2)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except config_mod.ConfigError as exc:
            fail(str(exc), EXIT_CONFIG)
        except TerraformInterrupted as exc:
            fail(str(exc), EXIT_INTERRUPTED)
        except _known_errors() as exc:
            fail(str(exc), EXIT_FAILED)

    return wrapper


__all__ = ["Any", "ConfigOpt", "JsonOpt", "SandboxOpt", "YesOpt"]
