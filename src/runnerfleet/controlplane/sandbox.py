"""The registrar in the sandbox: GitHub credentials from the running GitHub emulator are put
into the AWS emulator's SSM (`/<name>/github/*`), then read back the way the Lambda reads them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from runnerfleet.controlplane.registrar import Registrar, RegistrarSettings
from runnerfleet.controlplane.wiring import build_registrar


def claims_table_name(name: str) -> str:
    """The control plane's table (infra/modules/control-plane)."""
    return f"{name}-control-plane"


def _emulator_credentials(info: dict[str, Any]) -> dict[str, str]:
    pat = info.get("pat")
    if isinstance(pat, str) and pat:
        return {"token": pat}
    key = info.get("app_private_key_pem")
    for field in ("app_key_path", "app_private_key_path", "private_key_path", "key_path"):
        if not key and info.get(field):
            key = Path(str(info[field])).read_text(encoding="utf-8")
    if not key or not info.get("app_id"):
        raise RuntimeError(
            "the GitHub emulator's state file has neither a PAT nor an App id and key; "
            "restart the sandbox with `runnerfleet up`"
        )
    return {"app-id": str(info["app_id"]), "private-key": str(key)}


def _table_exists(dynamodb: Any, table: str) -> bool:
    try:
        dynamodb.describe_table(TableName=table)
    except ClientError:
        return False
    return True


def sandbox_registrar(cfg: Any, target: Any) -> tuple[Registrar, str]:
    """A Registrar for the sandbox fleet and the GitHub emulator's base URL."""
    info = target.sandbox.github_info()
    base_url = str(info.get("url") or info.get("base_url") or "").rstrip("/")
    if not base_url:
        raise RuntimeError("the GitHub emulator's state file has no url")
    ssm = target.client("ssm")
    creds = _emulator_credentials(info)
    for key, value in creds.items():
        ssm.put_parameter(
            Name=f"/{cfg.name}/github/{key}", Value=value, Type="SecureString", Overwrite=True
        )
    from runnerfleet.github.emulator import EmulatorControl

    # The emulator serves an owner once "the App is installed" there (idempotent).
    with EmulatorControl(base_url) as control, contextlib.suppress(RuntimeError):
        control.add_installation(cfg.github.owner)
    pools = {p.name: tuple(p.labels) for p in cfg.runners.pools}
    settings = RegistrarSettings(
        name=cfg.name,
        owner=cfg.github.owner,
        repository=cfg.github.repository,
        github_url=base_url,
        api_url=base_url,
        ephemeral=cfg.runners.ephemeral,
        labels=tuple(cfg.runners.labels),
        pool_labels=pools,
    )
    table = claims_table_name(cfg.name)
    has_table = _table_exists(target.client("dynamodb"), table)
    registrar = build_registrar(settings, target.client, claims_table=table if has_table else None)
    return registrar, base_url
