"""The control plane's GitHub side in the sandbox: the GitHub emulator's credentials and the
sandbox's webhook secret are put into the AWS emulator's SSM (`/<name>/github/*`, as
`runnerfleet github configure` does on AWS), where the deployed functions read them; the App is
installed on the fleet's owner and a configured organization runner group exists there; and a
Registrar for the CLI's own sandbox calls (`down` deregisters runners, `status` lists them).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from runnerfleet.controlplane.compose import ControlPlane, compose, deployed_table
from runnerfleet.controlplane.registrar import Registrar
from runnerfleet.controlplane.settings import ControlPlaneSettings


def claims_table_name(name: str) -> str:
    """The control plane's table (infra/modules/control-plane)."""
    return f"{name}-control-plane"


def _emulator_credentials(info: dict[str, Any], *, app: bool = False) -> dict[str, str]:
    """The emulator's App id and key (`app`, as the stack's github_auth = "app" expects),
    else its PAT when it has one."""
    pat = info.get("pat")
    if not app and isinstance(pat, str) and pat:
        return {"token": pat}
    key = info.get("app_private_key_pem")
    for field in ("app_key_path", "app_private_key_path", "private_key_path", "key_path"):
        if not key and info.get(field):
            key = Path(str(info[field])).read_text(encoding="utf-8")
    if (not key or not info.get("app_id")) and isinstance(pat, str) and pat:
        return {"token": pat}  # an emulator with no App: its PAT
    if not key or not info.get("app_id"):
        raise RuntimeError(
            "the GitHub emulator's state file has neither a PAT nor an App id and key; "
            "restart the sandbox with `runnerfleet up`"
        )
    return {"app-id": str(info["app_id"]), "private-key": str(key)}


def publish_github_credentials(cfg: Any, target: Any) -> str:
    """Write the emulator's App key (or PAT) and the sandbox's webhook secret to SSM
    `/<name>/github/*` and install the App on the fleet's owner in the emulator; returns the
    emulator's URL."""
    info = target.sandbox.github_info()
    base_url = str(info.get("url") or info.get("base_url") or "").rstrip("/")
    if not base_url:
        raise RuntimeError("the GitHub emulator's state file has no url")
    ssm = target.client("ssm")
    app = str(getattr(cfg.github, "auth", "app")) == "app"
    values = dict(_emulator_credentials(info, app=app))
    values["webhook-secret"] = target.sandbox.webhook_secret()
    for key, value in values.items():
        ssm.put_parameter(
            Name=f"/{cfg.name}/github/{key}", Value=value, Type="SecureString", Overwrite=True
        )
    from runnerfleet.github.emulator import EmulatorControl
    from runnerfleet.github.permissions import owner_kind, required_permissions

    # The emulator serves an owner once "the App is installed" there (idempotent), with the
    # permissions docs/operations.md tells users to grant for the configured owner kind.
    grant = required_permissions(owner_kind(cfg.github.repository))
    installation: int | None = None
    with EmulatorControl(base_url) as control:
        with contextlib.suppress(RuntimeError):
            installation = control.add_installation(cfg.github.owner, permissions=grant)
        group = str(getattr(cfg.github, "runner_group", "Default"))
        if cfg.github.repository is None and group != "Default":
            # On GitHub an org admin creates the runner group once (docs/operations.md); the
            # sandbox's organization has it as soon as the fleet names it (409: it exists).
            with contextlib.suppress(RuntimeError):
                control.add_runner_group(cfg.github.owner, group)
    if "app-id" in values and installation is not None:
        ssm.put_parameter(
            Name=f"/{cfg.name}/github/installation-id", Value=str(installation),
            Type="String", Overwrite=True,
        )  # fmt: skip
    return base_url


def sandbox_plane(cfg: Any, target: Any) -> tuple[ControlPlane, str]:
    """The control plane of the sandbox fleet and the GitHub emulator's base URL."""
    base_url = publish_github_credentials(cfg, target)
    table = deployed_table(target.client("dynamodb"), cfg.name)
    settings = ControlPlaneSettings.from_config(
        cfg, table=table, github_url=base_url, github_api_url=base_url
    )
    return compose(settings, target.client), base_url


def sandbox_registrar(cfg: Any, target: Any) -> tuple[Registrar, str]:
    """A Registrar for the sandbox fleet and the GitHub emulator's base URL."""
    plane, base_url = sandbox_plane(cfg, target)
    return plane.registrar, base_url
