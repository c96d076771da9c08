"""The control plane on a CLI target: `runnerfleet serve`, `reconcile`, `registrar run-once`.

`plane_for(cfg, target)` composes the same parts the Lambda functions compose (through
runnerfleet.controlplane.compose), from a FleetConfig and a runnerfleet.target.Target: the
control plane's DynamoDB table when it is deployed (in-process stores otherwise), the GitHub
emulator in the sandbox or the credentials in SSM `/<name>/github/*` on AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runnerfleet.controlplane.compose import ControlPlane, compose, deployed_table
from runnerfleet.controlplane.settings import ControlPlaneSettings


def plane_for(cfg: Any, target: Any, *, webhook_secret: str | None = None) -> ControlPlane:
    """The control plane of this fleet on this target (module docstring)."""
    if target.sandbox is not None:
        from runnerfleet.controlplane.sandbox import sandbox_plane

        plane, _ = sandbox_plane(cfg, target)
        plane.webhook_secret = webhook_secret or plane.webhook_secret
        return plane
    table = deployed_table(target.client("dynamodb"), cfg.name)
    settings = ControlPlaneSettings.from_config(cfg, table=table)
    return compose(settings, target.client, webhook_secret=webhook_secret)


def webhook_secret(cfg: Any, target: Any, env: Mapping[str, str], env_name: str) -> str | None:
    """The webhook secret: the named environment variable, else SSM
    `/<name>/github/webhook-secret` of the target; None when neither has one."""
    if env.get(env_name):
        return env[env_name]
    ssm = target.client("ssm")
    try:
        param = ssm.get_parameter(Name=f"/{cfg.name}/github/webhook-secret", WithDecryption=True)
    except ssm.exceptions.ParameterNotFound:
        return None
    value = str(param["Parameter"]["Value"])
    return value if value and value != "REPLACE_ME" else None
