"""`runnerfleet render user-data`: show the cloud-init user data the runner hosts boot with.

Rendered from runnerfleet.toml exactly as Terraform renders infra/templates/ (same template,
same variables), so it can be inspected, diffed or validated without a plan. It never holds a
secret: registrations reach the hosts through SSM, not user data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runnerfleet.commands.common import ConfigOpt, load_config
from runnerfleet.ui import EXIT_CONFIG, console, fail

render_app = typer.Typer(
    help="Render what Terraform would hand to the hosts, for inspection.", no_args_is_help=True
)


@render_app.command("user-data")
def user_data(
    config: ConfigOpt = None,
    mode: Annotated[
        str | None,
        typer.Option(help="static or autoscaled (default: runners.mode from the config)."),
    ] = None,
    pool: Annotated[
        str | None, typer.Option(help="Autoscaled mode: the pool to render (default: the first).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Render the runner hosts' cloud-init user data from the config."""
    from runnerfleet.agent.runner_release import UnknownRunnerVersion
    from runnerfleet.agent.userdata import TemplateError, render_user_data, settings_from_config

    cfg, _project = load_config(config)
    r = cfg.runners
    mode = mode or r.mode
    if mode not in ("static", "autoscaled"):
        fail(f"--mode must be static or autoscaled, not {mode!r}", EXIT_CONFIG)
    labels = list(r.labels)
    pool_name = "static"
    if mode == "autoscaled":
        pools = {p.name: p for p in r.pools}
        if not pools:
            fail("autoscaled mode needs a [[runners.pools]] entry in the config", EXIT_CONFIG)
        pool_name = pool or r.pools[0].name
        if pool_name not in pools:
            fail(f"no pool {pool_name!r}; the config has {sorted(pools)}", EXIT_CONFIG)
        labels += pools[pool_name].labels
    elif pool is not None:
        fail("--pool applies to --mode autoscaled only", EXIT_CONFIG)
    try:
        settings = settings_from_config(
            name=cfg.name,
            region=cfg.aws.region,
            runner_version=r.runner_version,
            labels=labels,
            ephemeral=r.ephemeral,
            app_image=r.app_image,
            pool=pool_name,
        )
        text = render_user_data(settings)
    except (TemplateError, UnknownRunnerVersion) as exc:
        fail(str(exc), EXIT_CONFIG)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console(stderr=True).print(f"wrote {out} ({len(text.encode())} bytes)")


def register(app: typer.Typer) -> None:
    app.add_typer(render_app, name="render")
