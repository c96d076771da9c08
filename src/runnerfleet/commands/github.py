"""`runnerfleet github-emulator`, `runnerfleet github app-manifest`, `runnerfleet github configure`.

- `github-emulator` runs the local GitHub emulator as its own process. It prints the URL and
  App id (never the token or key); credentials go to the state file (mode 0600) for other
  processes. Drive it with runnerfleet.github.emulator.EmulatorControl.
- `github app-manifest` prints the GitHub App manifest for the configured owner kind and,
  with `--html`, writes the page whose button registers the App on GitHub (the one browser
  step of GitHub's manifest flow).
- `github configure` checks the App id, installation id (flags, else `[github] app_id` and
  `installation_id` of runnerfleet.toml) and private key against GitHub
  (exit 2 naming a missing permission, event or wrong account; nothing is written then),
  generates a webhook secret, stores all four in SSM under `/<name>/github/`, and says what
  to paste where. Secrets are never printed: the webhook secret goes to a 0600 file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from runnerfleet.commands.common import (
    ConfigOpt,
    JsonOpt,
    SandboxOpt,
    deployment_for,
    handle_errors,
    load_config,
    target_for,
)
from runnerfleet.ui import EXIT_CONFIG, EXIT_FAILED, console, fail, print_json

github_app = typer.Typer(
    name="github",
    help="Set up the GitHub App: print its manifest, then store and check its credentials.",
    no_args_is_help=True,
)


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


# ------------------------------------------------------------------ the GitHub App


@dataclass
class _Env:
    """Where `github configure` talks to: SSM of the target, GitHub's API, the webhook URL."""

    label: str
    ssm: Any
    api_url: str
    webhook_url: str | None
    note: str = ""


def _webhook_url(cfg: Any, project: Path, sandbox: bool | None) -> tuple[str | None, str]:
    """The deployed stack's `webhook_url` output, or None and why not."""
    try:
        dep = deployment_for(cfg, project, sandbox, start=False, report=lambda _m: None)
        url = dep.outputs().get("webhook_url")
    except Exception as exc:  # any reason the stack cannot be read means "not deployed"
        return None, f"the stack's outputs could not be read ({type(exc).__name__}: {exc})"
    if not url:
        return None, "the stack is not deployed yet (or its control plane is off)"
    return str(url), ""


def _environment(cfg: Any, project: Path, sandbox: bool | None) -> _Env:
    target = target_for(cfg, project, sandbox, start=False)
    api_url = cfg.github.api_url
    if target.sandbox is not None:
        api_url = str(target.sandbox.github_info()["url"])
    url, note = _webhook_url(cfg, project, sandbox)
    return _Env(target.label, target.client("ssm"), api_url, url, note)


@github_app.command("app-manifest")
@handle_errors
def app_manifest_cmd(
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    webhook_url: Annotated[
        str | None,
        typer.Option("--webhook-url", help="Use this webhook URL instead of the stack's output."),
    ] = None,
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the page that registers the App (open it)."),
    ] = None,
    user_account: Annotated[
        bool,
        typer.Option(
            "--user-account",
            help="Register the App under your user account instead of the organization "
            "(for repository runners on a user's repository).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the GitHub App manifest: exactly the permissions and events the fleet needs."""
    from runnerfleet.github.app_setup import app_manifest, manifest_form, new_app_url
    from runnerfleet.github.permissions import owner_kind

    cfg, project = load_config(config)
    note = ""
    if webhook_url is None:
        webhook_url, note = _webhook_url(cfg, project, sandbox)
    elif not webhook_url.startswith("https://"):
        fail(f"--webhook-url {webhook_url!r}: GitHub delivers only to https:// URLs", EXIT_CONFIG)
    gh = cfg.github
    manifest = app_manifest(cfg.name, gh.url, gh.owner, gh.repository, webhook_url)
    action = new_app_url(gh.url, gh.owner, "User" if user_account else "Organization")
    if html_out is not None:
        html_out.write_text(manifest_form(manifest, action), encoding="utf-8")
    if as_json:
        print_json(manifest)
        return
    import json

    out = console()
    out.print_json(json.dumps(manifest))
    kind = owner_kind(gh.repository)
    scope = (
        f"repository {gh.owner}/{gh.repository}" if gh.repository else f"organization {gh.owner}"
    )
    out.print(f"\nPermissions for {kind}-level runners on the {scope}; event: workflow_job.")
    if webhook_url is None:
        out.print(
            f"[yellow]note:[/] no webhook URL yet: {note}. The manifest has a placeholder "
            "and the webhook off. After `runnerfleet up`, run this command again, or set "
            "the URL (from `runnerfleet status`) in the App's settings and tick Active."
        )
    page = str(html_out) if html_out else "the page written by --html FILE"
    out.print(
        "\nThe one browser step: open "
        f"{page} and press the button. It posts the manifest to {action}; GitHub shows the "
        "new App (pick a unique name) and [b]Create GitHub App[/] registers it. Then, on the "
        "App's page: note the App ID, [b]Generate a private key[/] (a .pem downloads), and "
        f"[b]Install App[/] on {gh.owner}; the number at the end of the installation's URL "
        "is the installation id. Finish with (or set [github] app_id and installation_id in "
        "runnerfleet.toml and leave out those two flags):\n"
        "  runnerfleet github configure --app-id APP_ID --installation-id INSTALLATION_ID "
        "--private-key-file KEY.pem"
    )


@github_app.command("configure")
@handle_errors
def configure_cmd(
    private_key_file: Annotated[
        Path, typer.Option("--private-key-file", help="The .pem GitHub generated for the App.")
    ],
    app_id_opt: Annotated[
        str | None,
        typer.Option(
            "--app-id", help="The App ID (App settings). Default: [github] app_id in the config."
        ),
    ] = None,
    installation_id_opt: Annotated[
        int | None,
        typer.Option(
            "--installation-id",
            help="From the installation's URL. Default: [github] installation_id in the config.",
            min=1,
        ),
    ] = None,
    webhook_secret_file: Annotated[
        Path,
        typer.Option(
            "--webhook-secret-file",
            help="Write the generated webhook secret here (mode 0600) to paste into GitHub.",
        ),
    ] = Path("webhook-secret.txt"),
    config: ConfigOpt = None,
    sandbox: SandboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the App against GitHub, then store its credentials in SSM for the control plane."""
    from runnerfleet.github.app_setup import (
        check_installation,
        new_webhook_secret,
        parameter_names,
        store_credentials,
    )
    from runnerfleet.github.auth import check_private_key
    from runnerfleet.github.client import AppAuth, GitHubClient, GitHubError

    cfg, project = load_config(config)
    app_id, installation_id = _app_ids(cfg, app_id_opt, installation_id_opt)
    try:
        pem = private_key_file.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"--private-key-file {private_key_file}: {exc.strerror or exc}", EXIT_CONFIG)
    try:
        auth = AppAuth(app_id.strip(), pem, installation_id)
        check_private_key(pem)
    except ValueError as exc:
        fail(f"--private-key-file {private_key_file}: {exc}", EXIT_CONFIG)
    if not app_id.strip().isdigit() and not app_id.strip().startswith("Iv"):
        fail(f"--app-id {app_id!r}: the App ID is a number (App settings > About)", EXIT_CONFIG)
    env = _environment(cfg, project, sandbox)
    gh = cfg.github
    with GitHubClient(env.api_url, auth, max_retries=2) as client:
        try:
            check = check_installation(client, installation_id, gh.owner, gh.repository)
        except GitHubError as exc:
            hint = {
                401: "the App ID and private key do not match (or the key was revoked)",
                404: f"the App has no installation {installation_id}",
            }.get(exc.status, "GitHub refused the check")
            fail(f"{hint}: {exc}", EXIT_CONFIG)
    if not check.ok:
        for problem in check.problems:
            console(stderr=True).print(f"[red]error:[/] {problem}")
        fail(
            f"the App is not set up as the fleet needs; nothing was stored ({env.label})",
            EXIT_CONFIG,
        )
    secret = new_webhook_secret()
    _write_private(webhook_secret_file, secret + "\n")
    names = store_credentials(
        env.ssm,
        cfg.name,
        app_id=app_id.strip(),
        installation_id=installation_id,
        private_key_pem=pem,
        webhook_secret=secret,
    )
    token = f"/{cfg.name}/github/token"
    stale_token = _parameter_exists(env.ssm, token)
    paste = {
        "Webhook URL": env.webhook_url
        or "none yet: after `runnerfleet up`, the webhook_url in `runnerfleet status`",
        "Webhook secret": f"the contents of {webhook_secret_file}",
    }
    if as_json:
        print_json(
            {
                "target": env.label,
                "parameters": names,
                "permissions": check.permissions,
                "account": check.account,
                "webhook_url": env.webhook_url,
                "webhook_secret_file": str(webhook_secret_file),
                "stale_token_parameter": token if stale_token else None,
            }
        )
        return
    out = console()
    granted = ", ".join(f"{k}: {v}" for k, v in sorted(check.permissions.items()))
    out.print(f"GitHub: installation {installation_id} on {check.account} grants {granted}")
    out.print(f"stored in SSM ({env.label}): " + ", ".join(names))
    out.print("Paste into the App's settings (General > Webhook), tick Active, Save changes:")
    for field, value in paste.items():
        out.print(f"  {field}: {value}")
    key_param = parameter_names(cfg.name)["private-key"]
    out.print(
        f"Then delete {webhook_secret_file} and the .pem: the key is in {key_param}, "
        "which only the control plane reads."
    )
    if stale_token:
        out.print(
            f"[yellow]note:[/] {token} (a personal access token) also exists; delete it "
            f"so the App is the only credential: aws ssm delete-parameter --name {token}"
        )


def _app_ids(cfg: Any, app_id: str | None, installation_id: int | None) -> tuple[str, int]:
    """The App id and installation id: the flags, else `[github] app_id`/`installation_id`
    of runnerfleet.toml (validated there); exit 2 naming both ways when neither gives one."""
    gh = cfg.github
    app = app_id if app_id is not None else gh.app_id
    inst = installation_id if installation_id is not None else gh.installation_id
    missing = []
    if app is None or not str(app).strip():
        missing.append("the App ID: pass --app-id ID or set [github] app_id in runnerfleet.toml")
    if inst is None:
        missing.append(
            "the installation id: pass --installation-id N or set [github] installation_id "
            "in runnerfleet.toml"
        )
    if missing:
        fail("github configure needs " + "; and ".join(missing), EXIT_CONFIG)
    assert app is not None and inst is not None
    return str(app), int(inst)


def _parameter_exists(ssm: Any, name: str) -> bool:
    try:
        ssm.get_parameter(Name=name)
    except ssm.exceptions.ParameterNotFound:
        return False
    return True


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def register(app: typer.Typer) -> None:
    app.command("github-emulator")(github_emulator)
    app.add_typer(github_app, name="github")
