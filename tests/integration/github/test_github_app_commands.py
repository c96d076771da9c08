"""`runnerfleet github app-manifest` and `runnerfleet github configure` through the CLI.

configure talks to the GitHub emulator (App auth, permissions enforced) and to SSM in moto;
only the choice of target is replaced (`_environment`), the command runs as a user runs it.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from runnerfleet.cli import app
from runnerfleet.commands import github as github_cmd
from runnerfleet.controlplane.settings import ControlPlaneSettings
from runnerfleet.controlplane.ssm_store import load_github_auth
from runnerfleet.github.app_setup import PLACEHOLDER_WEBHOOK_URL
from runnerfleet.github.client import AppAuth, GitHubClient
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.permissions import required_permissions

WEBHOOK = "https://abc123.lambda-url.us-east-1.on.aws/"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "runnerfleet.toml").write_text('name = "rfapp"\n\n[github]\nowner = "acme"\n')
    monkeypatch.chdir(tmp_path)
    for var in ("RUNNERFLEET_CONFIG", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return tmp_path


@pytest.fixture
def emulator() -> Iterator[GitHubEmulator]:
    with GitHubEmulator(validate=True) as emu:
        yield emu
        assert emu.spec_violations == []


@pytest.fixture
def ssm(project: Path, emulator: GitHubEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("ssm", region_name="us-east-1")

        def environment(cfg: Any, project: Path, sandbox: bool | None) -> github_cmd._Env:
            return github_cmd._Env("test account", client, emulator.url, WEBHOOK)

        monkeypatch.setattr(github_cmd, "_environment", environment)
        yield client


def _invoke(*argv: str) -> Any:
    return CliRunner().invoke(app, list(argv), catch_exceptions=False)


def _params(ssm: Any) -> dict[str, tuple[str, str]]:
    found = ssm.get_parameters_by_path(Path="/rfapp/github", WithDecryption=True)["Parameters"]
    return {p["Name"]: (p["Type"], p["Value"]) for p in found}


def test_app_manifest_prints_exactly_what_the_fleet_needs(project: Path) -> None:
    result = _invoke("github", "app-manifest", "--webhook-url", WEBHOOK, "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert manifest["default_permissions"] == required_permissions("org")
    assert manifest["default_events"] == ["workflow_job"]
    assert manifest["hook_attributes"] == {"url": WEBHOOK, "active": True}
    (project / "runnerfleet.toml").write_text(
        'name = "rfapp"\n\n[github]\nowner = "acme"\nrepository = "app"\n'
    )
    page = project / "app.html"
    text = _invoke("github", "app-manifest", "--webhook-url", WEBHOOK, "--html", str(page))
    assert text.exit_code == 0, text.output
    assert "administration" in text.output and "one browser step" in text.output
    assert "organizations/acme/settings/apps/new" in page.read_text()
    bad = _invoke("github", "app-manifest", "--webhook-url", "http://plain.example")
    assert bad.exit_code == 2 and "https://" in bad.output


def test_app_manifest_takes_the_webhook_url_from_the_deployed_stack(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --webhook-url the manifest's webhook is the stack's `webhook_url` output (the
    deployment is stubbed: its outputs are what `terraform output` gave); before a deploy,
    the placeholder with the webhook off."""
    outputs: dict[str, Any] = {"webhook_url": WEBHOOK}

    class Deployed:
        def outputs(self) -> dict[str, Any]:
            if not outputs:
                raise RuntimeError("no state yet")
            return outputs

    asked: list[bool] = []

    def deployment_for(cfg: Any, project: Path, sandbox: bool | None, **kw: Any) -> Deployed:
        asked.append(kw.get("start") is False)  # reading outputs never starts a sandbox
        return Deployed()

    monkeypatch.setattr(github_cmd, "deployment_for", deployment_for)
    deployed = _invoke("github", "app-manifest", "--json")
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.output)["hook_attributes"] == {"url": WEBHOOK, "active": True}
    outputs.clear()
    before = _invoke("github", "app-manifest")
    assert before.exit_code == 0, before.output
    assert "no webhook URL yet" in before.output and "no state yet" in before.output
    hook = json.loads(_invoke("github", "app-manifest", "--json").output)["hook_attributes"]
    assert hook == {"url": PLACEHOLDER_WEBHOOK_URL, "active": False}
    assert asked == [True, True, True]


def test_configure_stores_credentials_after_checking_them(
    ssm: Any, emulator: GitHubEmulator, project: Path
) -> None:
    inst = emulator.add_installation("acme")  # the documented permissions
    key = project / "app.pem"
    key.write_text(emulator.app_private_key_pem)
    secret_file = project / "hook.txt"
    result = _invoke(
        "github", "configure", "--app-id", emulator.app_id, "--installation-id", str(inst),
        "--private-key-file", str(key), "--webhook-secret-file", str(secret_file),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    params = _params(ssm)
    secret = secret_file.read_text().strip()
    assert params == {
        "/rfapp/github/app-id": ("String", emulator.app_id),
        "/rfapp/github/installation-id": ("String", str(inst)),
        "/rfapp/github/private-key": ("SecureString", emulator.app_private_key_pem),
        "/rfapp/github/webhook-secret": ("SecureString", secret),
    }
    assert len(secret) == 64 and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    # what the control plane reads (its loader and settings, as the Lambdas run them) is
    # what configure stored, and it authenticates to GitHub as the installation
    auth = load_github_auth(ssm=ssm, name="rfapp")
    assert isinstance(auth, AppAuth) and auth.installation_id == inst
    with GitHubClient(emulator.url, auth) as client:
        assert client.list_runners("acme") == []
    settings = ControlPlaneSettings.from_env({"RUNNERFLEET_NAME": "rfapp"})
    assert params[settings.webhook_secret_parameter] == ("SecureString", secret)
    assert secret not in result.output and "PRIVATE KEY" not in result.output
    assert WEBHOOK in result.output and "Webhook secret" in result.output
    again = _invoke(
        "github", "configure", "--app-id", emulator.app_id, "--installation-id", str(inst),
        "--private-key-file", str(key), "--webhook-secret-file", str(secret_file), "--json",
    )  # fmt: skip
    assert again.exit_code == 0, again.output  # Overwrite: a second run replaces the values
    assert json.loads(again.output)["parameters"] == sorted(params)


def test_configure_refuses_an_installation_lacking_a_permission(
    ssm: Any, emulator: GitHubEmulator, project: Path
) -> None:
    inst = emulator.add_installation("acme", permissions={"actions": "read"})
    key = project / "app.pem"
    key.write_text(emulator.app_private_key_pem)
    result = _invoke(
        "github", "configure", "--app-id", emulator.app_id, "--installation-id", str(inst),
        "--private-key-file", str(key),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "organization_self_hosted_runners: write" in result.output
    assert "nothing was stored" in result.output
    assert _params(ssm) == {}
    assert not (project / "webhook-secret.txt").exists()


def test_configure_refuses_bad_credentials(
    ssm: Any, emulator: GitHubEmulator, project: Path
) -> None:
    inst = emulator.add_installation("acme")
    key = project / "app.pem"
    key.write_text("not a key")
    bad_key = _invoke(
        "github", "configure", "--app-id", emulator.app_id, "--installation-id", str(inst),
        "--private-key-file", str(key),
    )  # fmt: skip
    assert bad_key.exit_code == 2 and "not a PEM private key" in bad_key.output
    key.write_text(emulator.app_private_key_pem)
    unknown = _invoke(
        "github", "configure", "--app-id", emulator.app_id, "--installation-id", "999999",
        "--private-key-file", str(key),
    )  # fmt: skip
    assert unknown.exit_code == 2 and "no installation 999999" in unknown.output
    wrong_app = _invoke(
        "github", "configure", "--app-id", "12345", "--installation-id", str(inst),
        "--private-key-file", str(key),
    )  # fmt: skip
    assert wrong_app.exit_code == 2 and "do not match" in wrong_app.output
    assert _params(ssm) == {}


def test_configure_takes_the_app_and_installation_ids_from_the_config(
    ssm: Any, emulator: GitHubEmulator, project: Path
) -> None:
    """`[github] app_id` / `installation_id` are the defaults of --app-id / --installation-id;
    a flag overrides its setting; with neither, exit 2 naming both ways."""
    inst = emulator.add_installation("acme")
    key = project / "app.pem"
    key.write_text(emulator.app_private_key_pem)
    toml = project / "runnerfleet.toml"
    neither = _invoke("github", "configure", "--private-key-file", str(key))
    assert neither.exit_code == 2, neither.output
    text = " ".join(neither.output.split())
    assert "pass --app-id ID or set [github] app_id in runnerfleet.toml" in text
    assert "pass --installation-id N or set [github] installation_id" in text
    assert _params(ssm) == {}
    toml.write_text(
        f'name = "rfapp"\n\n[github]\nowner = "acme"\napp_id = "{emulator.app_id}"\n'
        f"installation_id = {inst}\n"
    )
    from_config = _invoke("github", "configure", "--private-key-file", str(key), "--json")
    assert from_config.exit_code == 0, from_config.output
    params = _params(ssm)
    assert params["/rfapp/github/app-id"] == ("String", emulator.app_id)
    assert params["/rfapp/github/installation-id"] == ("String", str(inst))
    # the flag wins over the config: a wrong flag is what GitHub is asked about
    flag = _invoke(
        "github", "configure", "--installation-id", "999999", "--private-key-file", str(key)
    )
    assert flag.exit_code == 2 and "no installation 999999" in flag.output
    toml.write_text(f'name = "rfapp"\n\n[github]\nowner = "acme"\napp_id = "{emulator.app_id}"\n')
    half = _invoke("github", "configure", "--private-key-file", str(key))
    assert half.exit_code == 2 and "installation_id" in half.output
    assert "--app-id" not in " ".join(half.output.split()).split("needs", 1)[1]
    toml.write_text('name = "rfapp"\n\n[github]\nowner = "acme"\ninstallation_id = 0\n')
    bad = _invoke("github", "configure", "--private-key-file", str(key))
    assert bad.exit_code == 2 and "github.installation_id" in bad.output, bad.output
