"""`runnerfleet jobs` and `runnerfleet sandbox queue|runtime`: the sandbox's jobs and runtime.

- `sandbox queue --labels self-hosted,linux --count 5 --duration 30s`: queue workflow jobs in
  the sandbox's GitHub emulator (which delivers their `workflow_job` webhooks to the function
  URL); a simulated host's runner takes `--duration` (sandbox seconds, compressed by
  RUNNERFLEET_SANDBOX_CLOCK) to finish one.
- `jobs [--json]`: the jobs queued through the sandbox, queued / in progress / completed,
  with their pool, runner and, for a waiting one, why it waits.
- `sandbox runtime [--json]`: what the sandbox runtime runs (functions and their
  invocations, hosts and their states, webhook deliveries).
Exit codes: 0 ok, 1 the sandbox is not running, 2 bad input.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from runnerfleet.commands.common import ConfigOpt, JsonOpt, handle_errors, load_config
from runnerfleet.ui import EXIT_CONFIG, EXIT_FAILED, console, fail, print_json

sandbox_app = typer.Typer(help="The local sandbox: queue jobs, inspect its runtime.")


def _sandbox(cfg: Any, project: Any) -> Any:
    from runnerfleet.sandbox import Sandbox
    from runnerfleet.target import project_home

    box = Sandbox(project_home(project), region=cfg.aws.region)
    if not box.running() or not box.state.github.alive():
        fail("the sandbox is not running; start it with `runnerfleet up --sandbox`", EXIT_FAILED)
    return box


def _pool_labels(cfg: Any) -> dict[str, list[str]]:
    """The labels each pool's runners carry (what GitHub matches a job's labels against)."""
    from runnerfleet.agent.registration import DEFAULT_LABELS

    r = cfg.runners
    pools = {p.name: list(p.labels) for p in r.pools} if r.mode == "autoscaled" else {}
    if not pools:
        pools = {"static" if r.mode == "static" else "default": []}
    return {
        name: list(dict.fromkeys((*DEFAULT_LABELS, *r.labels, *extra)))
        for name, extra in pools.items()
    }


def _seconds(text: str) -> float:
    """`30s`, `2m`, `1h` or a plain number of seconds; exit 2 naming the option otherwise."""
    raw = text.strip().lower()
    unit = {"s": 1, "m": 60, "h": 3600}.get(raw[-1:], 0)
    number = raw[:-1] if unit else raw
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 6 * 3600:
        fail(f"--duration {text!r}: give seconds like 30s, 2m or 1h (at most 6h)", EXIT_CONFIG)
    return value


@handle_errors
def queue(
    labels: Annotated[
        str, typer.Option("--labels", help="Comma list of the job's runs-on labels.")
    ] = "self-hosted,linux,x64",
    count: Annotated[int, typer.Option("--count", help="How many jobs to queue.")] = 1,
    duration: Annotated[
        str, typer.Option("--duration", help="How long each job runs, e.g. 30s, 2m (default 0s).")
    ] = "0s",
    repo: Annotated[
        str | None, typer.Option("--repo", help="Repository (default: the config's, else app).")
    ] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Queue workflow jobs in the sandbox's GitHub emulator."""
    from runnerfleet.sandboxrt.jobs import queue_jobs

    wanted = [x.strip() for x in labels.split(",") if x.strip()]
    if not wanted:
        fail("--labels: give at least one label, e.g. --labels self-hosted,linux", EXIT_CONFIG)
    if not 1 <= count <= 1000:
        fail(f"--count {count}: queue between 1 and 1000 jobs", EXIT_CONFIG)
    seconds = _seconds(duration)
    cfg, project = load_config(config)
    box = _sandbox(cfg, project)
    repository = repo or cfg.github.repository or "app"
    ids = queue_jobs(
        box.home, box.github_info()["url"], cfg.github.owner, repository, wanted, count, seconds
    )
    if json_out:
        print_json({"queued": ids, "labels": wanted, "repository": repository})
    else:
        console().print(f"queued {len(ids)} job(s) with labels {','.join(wanted)}: {ids}")


def _rows(cfg: Any, box: Any) -> list[dict[str, Any]]:
    from runnerfleet.sandboxrt.jobs import job_rows, pool_views

    groups = box.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    try:
        hosts = box.runtime_status()["hosts"]
    except Exception:  # the runtime is down: no host facts, the jobs are still listed
        hosts = []
    views = pool_views(_pool_labels(cfg), groups, hosts, cfg.name)
    rows: list[dict[str, Any]] = job_rows(box.home, box.github_info()["url"], views)
    return rows


@handle_errors
def jobs(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """List the sandbox's jobs: status, pool, runner, and why a queued job waits."""
    cfg, project = load_config(config)
    box = _sandbox(cfg, project)
    rows = _rows(cfg, box)
    if json_out:
        print_json({"jobs": rows})
        return
    out = console()
    if not rows:
        out.print("no jobs queued through the sandbox (queue some: `runnerfleet sandbox queue`)")
        return
    from rich.table import Table

    table = Table("job", "status", "labels", "pool", "runner", "why waiting")
    for r in rows:
        status = r["status"] + (f" ({r['conclusion']})" if r.get("conclusion") else "")
        table.add_row(str(r["id"]), status, ",".join(r["labels"]), r["pool"] or "-",
                      r["runner"] or "-", r["reason"] or "")  # fmt: skip
    out.print(table)


@handle_errors
def runtime(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Show what the sandbox runtime runs: functions, hosts, webhook deliveries."""
    cfg, project = load_config(config)
    status = _sandbox(cfg, project).runtime_status()
    if json_out:
        print_json(status)
        return
    out = console()
    for name, fn in sorted(status["functions"].items()):
        out.print(f"function {name}: {fn['ok']} ok, {fn['error']} failed, "
                  f"{fn['cold_starts']} cold start(s)", markup=False)  # fmt: skip
    for host in status["hosts"]:
        out.print(f"host {host['instance_id']} ({host['pool']}): {host['state']} "
                  f"{host['runner'] or ''} {host['detail']}", markup=False)  # fmt: skip
    d = status["deliveries"]
    out.print(f"function URL: {d['requests']} request(s), {d['dropped']} dropped, "
              f"{d['duplicated']} duplicated", markup=False)  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("jobs")(jobs)
    sandbox_app.command("queue")(queue)
    sandbox_app.command("runtime")(runtime)
    app.add_typer(sandbox_app, name="sandbox")
