"""Fleet lifecycle commands: init, up, plan, apply, down, status."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from runnerfleet import config as config_mod
from runnerfleet.commands.common import (
    ConfigOpt,
    JsonOpt,
    SandboxOpt,
    YesOpt,
    deployment_for,
    handle_errors,
    load_config,
    operation,
    progress,
)
from runnerfleet.init_template import InitAnswers, render
from runnerfleet.target import SandboxNotRunning
from runnerfleet.terraform import PlanResult
from runnerfleet.ui import EXIT_CHANGES, EXIT_CONFIG, console, fail, print_json

OUTPUT_ROWS = (
    ("VPC", "vpc_id"),
    ("Public subnets", "public_subnet_ids"),
    ("Private subnets", "private_subnet_ids"),
    ("Internet gateway", "internet_gateway_id"),
    ("NAT gateways", "nat_gateway_ids"),
    ("NAT public IPs", "nat_public_ips"),
    ("S3 endpoint", "s3_endpoint_id"),
)


def _outputs_table(outputs: dict[str, Any]) -> Table:
    table = Table(title="Deployed", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("value")
    shown = set()
    for label, key in OUTPUT_ROWS:
        if key in outputs:
            value = outputs[key]
            table.add_row(
                label, ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            )
            shown.add(key)
    for key in sorted(outputs):
        if key not in shown:
            value = outputs[key]
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            table.add_row(key, text)
    return table


def _plan_summary_line(plan: PlanResult) -> str:
    s = plan.summary()
    return (
        f"{s['create']} to add, {s['update']} to change, {s['replace']} to replace, "
        f"{s['delete']} to destroy"
    )


def can_ask() -> bool:
    """True when a person can answer a confirmation (standard input is a terminal)."""
    return sys.stdin.isatty()


def floor_line(cfg: config_mod.FleetConfig) -> str:
    """What the fleet costs a month at least (runnerfleet.cost), for the plan summary."""
    from runnerfleet import cost

    try:
        return cost.render_floor_line(cost.monthly_floor(cfg))
    except ValueError as exc:  # UnknownRegion / UnknownInstanceType: no price to show
        return f"monthly floor: not estimated ({exc})"


@handle_errors
def init(
    path: Annotated[Path, typer.Option("--path", help="Where to write the config.")] = Path(
        config_mod.DEFAULT_CONFIG_FILE
    ),
    name: Annotated[str | None, typer.Option(help="Fleet name (resource prefix).")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region.")] = None,
    owner: Annotated[str | None, typer.Option(help="GitHub organization or user.")] = None,
    repository: Annotated[
        str | None, typer.Option(help="Repository, for repo-level runners.")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="static or autoscaled.")] = None,
    count: Annotated[int | None, typer.Option(help="Static mode: number of runners.")] = None,
    instance_type: Annotated[str | None, typer.Option(help="EC2 instance type.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented runnerfleet.toml (asks on a terminal, takes flags otherwise)."""
    if path.exists() and not force:
        fail(f"{path} already exists; pass --force to overwrite it", EXIT_CONFIG)
    a = InitAnswers()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()

    def pick(flag: Any, prompt: str, default: Any) -> Any:
        if flag is not None:
            return flag
        if interactive:
            return typer.prompt(prompt, default=default, type=type(default))
        return default

    a.name = pick(name, "Fleet name", a.name)
    a.region = pick(region, "AWS region", a.region)
    a.owner = pick(owner, "GitHub organization or user", a.owner)
    a.repository = repository
    a.mode = pick(mode, "Mode (static/autoscaled)", a.mode)
    a.count = pick(count, "Number of runners (static mode)", a.count)
    a.instance_type = pick(instance_type, "Instance type", a.instance_type)
    text = render(a)
    import tomllib

    config_mod.validate(tomllib.loads(text), str(path))  # refuse to write a config that is wrong
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console().print(f"wrote {path}; next: runnerfleet up")


@handle_errors
def up(
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    adopt: Annotated[
        bool, typer.Option("--adopt", help="Adopt an existing state bucket as it is.")
    ] = False,
) -> None:
    """Create or update the fleet: backend bootstrap, plan, confirm, apply.

    With no AWS credentials configured (or with --sandbox) this starts the local sandbox.
    """
    cfg, project = load_config(config)
    with progress() as report, operation(project, "up", report):
        dep = deployment_for(cfg, project, sandbox, start=True, report=report)

        def confirm(plan: PlanResult) -> bool:
            if dep.target.is_sandbox:
                return True
            report(f"plan: {_plan_summary_line(plan)}")
            report(floor_line(cfg))
            if yes:
                return True
            if not can_ask():
                fail("changes need confirmation: re-run with --yes", EXIT_CHANGES)
            return typer.confirm(f"Apply these changes to {dep.target.label}?", default=False)

        result = dep.up(confirm, adopt=adopt)
    if as_json:
        print_json(
            {
                "target": "sandbox" if dep.target.is_sandbox else "aws",
                "changed": result.changed,
                "applied": result.applied,
                "summary": result.summary,
                "backend_changes": result.backend_changes,
                "outputs": result.outputs,
                "runners": result.runners,
            }
        )
        return
    out = console()
    out.print(f"target: {dep.target.label}")
    if result.changed:
        s = result.summary
        verb = "applied" if result.applied else "not applied"
        out.print(
            f"{verb}: {s['create']} added, {s['update']} changed, {s['replace']} replaced, "
            f"{s['delete']} destroyed"
        )
    else:
        out.print("no changes: the fleet matches the configuration")
    out.print(_outputs_table(result.outputs))
    if result.runners:
        rt = Table(title="Runners (GitHub)")
        for col in ("name", "status", "busy", "labels"):
            rt.add_column(col)
        for r in result.runners:
            rt.add_row(r["name"], r["status"], str(r.get("busy", False)), ",".join(r["labels"]))
        out.print(rt)


@handle_errors
def plan(
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option("--out", help="Save the plan to this file.")] = None,
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan a destroy.")] = False,
) -> None:
    """Show what `up` would change. Exit 0: no changes; 3: changes pending."""
    cfg, project = load_config(config)
    with progress() as report, operation(project, "plan", report):
        dep = deployment_for(cfg, project, sandbox, start=True, report=report)
        if dep.target.is_sandbox:
            dep.bootstrap_backend()  # the sandbox starts empty; real AWS: plan writes nothing
        result = dep.plan(out.resolve() if out else None, destroy=destroy)
    if as_json:
        print_json(
            {
                "changes": result.has_changes,
                "summary": result.summary(),
                "addresses": result.changed_addresses(),
                "digest": result.digest(),
                "plan_file": str(result.plan_file),
            }
        )
    else:
        console().print(f"plan: {_plan_summary_line(result)}")
        for addr in result.changed_addresses():
            console().print(f"  ~ {addr}")
        console().print(f"saved plan: {result.plan_file} (digest {result.digest()})")
    if result.has_changes:
        raise typer.Exit(EXIT_CHANGES)


@handle_errors
def apply(
    plan_file: Annotated[Path, typer.Argument(help="A plan saved by `runnerfleet plan --out`.")],
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply exactly a saved plan (what CI reviewed)."""
    cfg, project = load_config(config)
    if not plan_file.is_file():
        fail(f"{plan_file} does not exist; create it with `runnerfleet plan --out {plan_file}`", 2)
    with progress() as report, operation(project, "apply", report):
        dep = deployment_for(cfg, project, sandbox, start=False, report=report)
        dep.prepare()
        outputs = dep.apply(PlanResult(plan_file.resolve(), has_changes=True))
    if as_json:
        print_json({"applied": True, "outputs": outputs})
    else:
        console().print(_outputs_table(outputs))


@handle_errors
def down(
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    keep_sandbox: Annotated[
        bool, typer.Option("--keep-sandbox", help="Leave the emulators running afterwards.")
    ] = False,
) -> None:
    """Deregister the runners and destroy the fleet (in the sandbox, then stop the emulators)."""
    cfg, project = load_config(config)
    with progress() as report, operation(project, "down", report):
        try:
            dep = deployment_for(cfg, project, sandbox, start=False, report=report)
        except SandboxNotRunning:
            # The sandbox keeps everything in its emulators: not running, nothing exists.
            if as_json:
                print_json({"destroyed": 0, "stopped": [], "nothing_running": True})
            else:
                console().print("nothing to destroy: the sandbox is not running")
            return
        if not dep.target.is_sandbox and not yes:
            if not sys.stdin.isatty():
                fail("destroying a real fleet needs --yes", EXIT_CONFIG)
            if not typer.confirm(f"Destroy fleet {cfg.name!r} in {dep.target.label}?"):
                raise typer.Exit(1)
        result = dep.down()
        stopped: list[str] = []
        if dep.target.sandbox is not None and not keep_sandbox:
            stopped = dep.target.sandbox.stop()
    destroyed = result.summary()["delete"] if result is not None else 0
    if as_json:
        print_json(
            {
                "destroyed": destroyed,
                "stopped": stopped,
                "removed_parameters": dep.removed_parameters,
                "nothing_running": result is None or not result.has_changes,
            }
        )
    else:
        if destroyed:
            console().print(f"destroyed {destroyed} resources")
        else:
            console().print(f"nothing to destroy: fleet {cfg.name!r} has no resources here")
        if stopped:
            console().print("sandbox emulators stopped")


@handle_errors
def status(config: ConfigOpt = None, sandbox: SandboxOpt = None, as_json: JsonOpt = False) -> None:
    """Show what is deployed: Terraform outputs, runner instances and GitHub runners."""
    cfg, project = load_config(config)
    with progress() as report:
        dep = deployment_for(cfg, project, sandbox, start=False, report=report)
        outputs = dep.outputs()
        instances = dep.instances()
        runners = dep.github_runners()
    if as_json:
        print_json(
            {
                "target": "sandbox" if dep.target.is_sandbox else "aws",
                "outputs": outputs,
                "instances": instances,
                "runners": runners,
            }
        )
        return
    out = console()
    out.print(f"target: {dep.target.label}")
    out.print(_outputs_table(outputs))
    it = Table(title=f"Runner instances ({len(instances)})")
    for col in ("name", "id", "state", "pool", "private ip"):
        it.add_column(col)
    for i in instances:
        it.add_row(i["name"], i["id"], i["state"], i.get("pool", ""), i.get("private_ip", ""))
    out.print(it)
    rt = Table(title=f"GitHub runners ({len(runners)})")
    for col in ("name", "status", "busy"):
        rt.add_column(col)
    for r in runners:
        rt.add_row(r["name"], r["status"], str(r["busy"]))
    out.print(rt)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(up)
    app.command()(plan)
    app.command()(apply)
    app.command()(down)
    app.command()(status)
