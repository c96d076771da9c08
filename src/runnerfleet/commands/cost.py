"""`runnerfleet cost`: what the configured fleet costs a month, per job-minute, and against
GitHub-hosted runners, from the price table in src/runnerfleet/data/prices.json.

Reads only the config: no AWS or GitHub call, so it works before anything is deployed.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from runnerfleet.commands.common import ConfigOpt, JsonOpt, load_config
from runnerfleet.ui import EXIT_CONFIG, console, fail, print_json


def cost(
    config: ConfigOpt = None,
    utilisation: Annotated[
        float,
        typer.Option(
            "--utilisation",
            "-u",
            help="Share of runner time spent running jobs (above 0, at most 1).",
        ),
    ] = 0.3,
    job_minutes: Annotated[
        float | None,
        typer.Option(
            "--job-minutes",
            help="Job minutes a month (default: the fleet's full capacity times --utilisation).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Monthly floor by resource, cost per job-minute, and the GitHub-hosted break-even."""
    from runnerfleet import cost as cost_mod

    cfg, _project = load_config(config)
    if not 0 < utilisation <= 1:
        fail(
            f"--utilisation must be above 0 and at most 1 (for example 0.3), not {utilisation}",
            EXIT_CONFIG,
        )
    if job_minutes is not None and job_minutes < 0:
        fail(f"--job-minutes must not be negative, not {job_minutes}", EXIT_CONFIG)
    try:
        est = cost_mod.estimate(cost_mod.shape_from_config(cfg), utilisation, job_minutes)
    except (cost_mod.UnknownRegion, cost_mod.UnknownInstanceType) as exc:
        fail(f"{exc}; pick a priced region/instance type or add it to the price table", EXIT_CONFIG)
    if as_json:
        print_json(est.to_json())
        return
    out = console()
    table = Table(
        title=f"Monthly floor of fleet {cfg.name!r} ({est.region}, prices of {est.as_of})"
    )
    table.add_column("resource")
    table.add_column("USD/month", justify="right")
    table.add_column("what")
    for ln in est.lines:
        table.add_row(ln.resource, f"{ln.monthly:.2f}", ln.detail)
    table.add_row("[bold]total[/]", f"[bold]{est.floor_total:.2f}[/]", "before data")
    out.print(table)
    per = "n/a" if est.per_job_minute is None else f"${est.per_job_minute:.4f}"
    out.print(
        f"At {est.utilisation:.0%} utilisation ({est.job_minutes:,.0f} job minutes a month): "
        f"${est.monthly_total:.2f} a month, {per} per job-minute; "
        f"{est.github_label} would cost ${est.github_monthly:.2f} (${est.github_rate}/min)."
    )
    if est.break_even_job_minutes is None:
        out.print(
            "Break-even: never at this utilisation (each busy minute costs more than GitHub's)."
        )
    else:
        out.print(
            f"Break-even: self-hosted is cheaper above {est.break_even_job_minutes:,} job minutes "
            "a month."
        )
    e = est.endpoints
    if e["pays_off_above_gb_per_month"] is None:
        out.print(
            f"Interface endpoints: ${e['monthly']:.2f} a month; they never pay off on cost here "
            "(no NAT processing charge to save)."
        )
    else:
        out.print(
            f"Interface endpoints: ${e['monthly']:.2f} a month; they pay off above "
            f"{e['pays_off_above_gb_per_month']:,} GB a month of AWS-API/ECR traffic "
            f"(saving ${e['saving_per_gb_through_them']}/GB of NAT processing)."
        )
    d = est.data_per_gb
    out.print(
        f"Data on top: NAT processing ${d['nat_processing']}/GB, internet egress "
        f"${d['internet_egress']}/GB."
    )


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)
