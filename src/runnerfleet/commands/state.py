"""State backend commands: `backend bootstrap` and `state versions|restore|lock|unlock`.

Thin: each command loads the config, picks the target (real AWS or the running sandbox),
calls `runnerfleet.backend` and renders the result (a Rich table, or JSON with `--json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from runnerfleet import backend
from runnerfleet.commands.common import (
    ConfigOpt,
    JsonOpt,
    SandboxOpt,
    YesOpt,
    handle_errors,
    load_config,
    target_for,
)
from runnerfleet.config import FleetConfig
from runnerfleet.target import Target
from runnerfleet.ui import EXIT_FAILED, console, fail, print_json

backend_app = typer.Typer(
    name="backend",
    help="The Terraform state backend (S3 bucket + DynamoDB lock table).",
    no_args_is_help=True,
)
state_app = typer.Typer(
    name="state",
    help="Terraform state: versions, restore, lock inspection and unlock.",
    no_args_is_help=True,
)

STATE_ROLE = "deploy"  # runnerfleet:role of the state bucket and lock table

BOOTSTRAP_HELP = (
    "Create the state bucket and lock table, or bring them up to standard (idempotent).\n\n"
    "Bucket: versioning, default encryption (SSE-S3, or SSE-KMS with a bucket key when "
    "backend.kms_key_id is set), all four public-access-block flags, BucketOwnerEnforced, "
    "a policy denying non-TLS requests (left out against the sandbox's plain-HTTP emulator, "
    "where no request could meet it). Table: hash key LockID, on-demand, point-in-time "
    "recovery, deletion protection. A second run changes nothing. A bucket without "
    "versioning, or one this account cannot read, is only taken over with --adopt."
)
RESTORE_HELP = (
    "Make an earlier state version current again; nothing is deleted.\n\n"
    "Refuses while the state is locked. Saves the current state to a private backup file "
    "under .runnerfleet/backups/, writes the chosen version as a new version on top (its "
    "serial raised above the current one, so plans saved earlier are rejected as stale), "
    "and updates Terraform's digest in the lock table so the next plan works."
)


@dataclass(frozen=True)
class StateLocation:
    """Where the state of this fleet lives on one target, and how it is locked."""

    bucket: str
    key: str
    table: str | None
    use_lockfile: bool
    region: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def location(cfg: FleetConfig, target: Target) -> StateLocation:
    locking = cfg.backend.locking
    return StateLocation(
        bucket=target.bucket(),
        key=cfg.backend.key,
        table=cfg.lock_table() if locking in ("both", "dynamodb") else None,
        use_lockfile=locking in ("both", "s3"),
        region=cfg.aws.region,
    )


def _open(
    config: Path | None, sandbox: bool | None, *, start: bool = False
) -> tuple[FleetConfig, Target, StateLocation, Any, Any]:
    cfg, project = load_config(config)
    target = target_for(cfg, project, sandbox, start=start)
    loc = location(cfg, target)
    return cfg, target, loc, target.client("s3"), target.client("dynamodb")


# ---- backend bootstrap ------------------------------------------------------------------------
@backend_app.command("bootstrap", help=BOOTSTRAP_HELP)
@handle_errors
def bootstrap_cmd(
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help="Take over an existing bucket that lacks versioning or that this account "
            "cannot read, and bring it up to standard.",
        ),
    ] = False,
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or bring up to standard the state bucket and lock table (see BOOTSTRAP_HELP)."""
    cfg, target, loc, s3, ddb = _open(config, sandbox, start=True)  # like `up`, may start it
    changes = backend.bootstrap(
        s3,
        ddb,
        bucket=loc.bucket,
        table=loc.table,
        region=loc.region,
        kms_key_id=cfg.backend.kms_key_id,
        adopt=adopt,
        expected_owner=None if target.is_sandbox else target.account_id(),
        tags={**cfg.base_tags(), "runnerfleet:role": STATE_ROLE},
    )
    if as_json:
        print_json(
            {
                "target": target.label,
                "bucket": loc.bucket,
                "table": loc.table,
                "region": loc.region,
                "changed": bool(changes),
                "changes": [c.as_dict() for c in changes],
            }
        )
        return
    out = console()
    where = f"s3://{loc.bucket}"
    if not changes:
        out.print(
            f"State backend {where}"
            + (f" + table {loc.table}" if loc.table else "")
            + f" on {target.label} is up to standard; nothing changed.",
            markup=False,
        )
        return
    table = Table(title=f"State backend changes on {target.label}", header_style="bold")
    table.add_column("resource", overflow="fold")
    table.add_column("change")
    table.add_column("detail")
    for c in changes:
        table.add_row(escape(c.resource), escape(c.action), escape(c.detail))
    out.print(table)


# ---- state versions ---------------------------------------------------------------------------
@state_app.command("versions")
@handle_errors
def versions_cmd(
    config: ConfigOpt = None, sandbox: SandboxOpt = None, as_json: JsonOpt = False
) -> None:
    """List the stored versions of the state object, newest first."""
    _cfg, _target, loc, s3, _ddb = _open(config, sandbox)
    versions = backend.list_versions(s3, loc.bucket, loc.key)
    if as_json:
        print_json({"state": loc.url, "versions": [v.as_dict() for v in versions]})
        return
    out = console()
    if not versions:
        out.print(f"{loc.url} has no stored versions yet (nothing applied).", markup=False)
        return
    table = Table(title=f"Versions of {loc.url}", header_style="bold")
    table.add_column("version id")
    table.add_column("last modified (UTC)")
    table.add_column("size", justify="right")
    table.add_column("latest")
    for v in versions:
        table.add_row(
            escape(v.version_id),
            v.last_modified.strftime("%Y-%m-%d %H:%M:%S"),
            f"{v.size:,}",
            "latest" if v.is_latest else "",
        )
    out.print(table)


# ---- state restore ----------------------------------------------------------------------------
@state_app.command("restore", help=RESTORE_HELP)
@handle_errors
def restore_cmd(
    version_id: Annotated[str, typer.Argument(help="Version to restore (see `state versions`).")],
    yes: YesOpt = False,
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an earlier state version current again (see RESTORE_HELP)."""
    _cfg, target, loc, s3, ddb = _open(config, sandbox)
    backup_dir = target.home / "backups"
    if not yes and not typer.confirm(
        f"Restore version {version_id} as the current state of {loc.url} on {target.label}? "
        f"The current state is saved under {backup_dir} first.",
        default=False,
    ):
        fail("not confirmed; nothing changed", EXIT_FAILED)
    result = backend.restore(
        s3,
        ddb,
        bucket=loc.bucket,
        key=loc.key,
        table=loc.table,
        version_id=version_id,
        backup_dir=backup_dir,
        use_lockfile=loc.use_lockfile,
    )
    if as_json:
        print_json({"state": loc.url, **result.as_dict()})
        return
    out = console()
    out.print(
        f"Restored version {version_id} of {loc.url} as new version {result.new_version_id}",
        markup=False,
    )
    out.print(f"  serial: {result.serial}; digest: {result.digest}", markup=False)
    if result.backup is not None:
        out.print(f"  previous state saved to {result.backup}", markup=False)
    out.print("Run `runnerfleet plan` to see how the infrastructure differs from this state.")


# ---- state lock / unlock ----------------------------------------------------------------------
def _lock_table(status: backend.LockStatus, loc: StateLocation) -> Table:
    table = Table(title=f"Lock on {loc.url}", header_style="bold")
    for col in ("where", "ID", "operation", "who", "version", "created"):
        table.add_column(col)
    for where, info in status.holders():
        cells = (where, info.id, info.operation, info.who, info.version, info.created)
        table.add_row(*(escape(c) for c in cells))
    return table


@state_app.command("lock")
@handle_errors
def lock_cmd(
    config: ConfigOpt = None, sandbox: SandboxOpt = None, as_json: JsonOpt = False
) -> None:
    """Show who holds the state lock (DynamoDB lock item and S3 lockfile)."""
    _cfg, _target, loc, s3, ddb = _open(config, sandbox)
    status = backend.lock_info(s3, ddb, bucket=loc.bucket, key=loc.key, table=loc.table)
    if as_json:
        print_json({"state": loc.url, **status.as_dict()})
        return
    out = console()
    if not status.held:
        out.print(f"{loc.url} is not locked.", markup=False)
        return
    out.print(_lock_table(status, loc))


@state_app.command("unlock")
@handle_errors
def unlock_cmd(
    lock_id: Annotated[str, typer.Argument(help="ID of the lock to remove (see `state lock`).")],
    yes: YesOpt = False,
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Remove a stale state lock, only if its ID matches. Asks first unless --yes."""
    _cfg, _target, loc, s3, ddb = _open(config, sandbox)
    status = backend.lock_info(s3, ddb, bucket=loc.bucket, key=loc.key, table=loc.table)
    out = console()
    if status.held and not yes:
        out.print(_lock_table(status, loc))
        if not typer.confirm(
            f"Remove lock {lock_id} from {loc.url}? Only do this if no Terraform run holds it.",
            default=False,
        ):
            fail("not confirmed; the lock is still held", EXIT_FAILED)
    removed = backend.unlock(
        s3, ddb, bucket=loc.bucket, key=loc.key, table=loc.table, lock_id=lock_id
    )
    out.print(f"Removed lock {lock_id} from {loc.url} ({', '.join(removed)}).", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(backend_app, name="backend")
    app.add_typer(state_app, name="state")
