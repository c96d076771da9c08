"""Where commands act: a real AWS account or the local sandbox.

A `Target` hands out boto3 clients, the environment for terraform processes, the S3 backend
settings and (sandbox only) the Terraform override files. `resolve_target` picks the sandbox
when asked to, or when no AWS credentials are configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions

from runnerfleet.config import FleetConfig
from runnerfleet.sandbox import SANDBOX_ACCOUNT_ID, Sandbox


class TargetError(Exception):
    """AWS access is not usable (no credentials, wrong profile, emulator down)."""


class SandboxNotRunning(TargetError):
    """The sandbox was chosen (or is the default) but its emulators are not running."""


def project_home(project_dir: Path) -> Path:
    """The project-local state folder (sandbox emulators, Terraform work copies, backups)."""
    return project_dir / ".runnerfleet"


def has_aws_credentials(cfg: FleetConfig) -> bool:
    try:
        session = boto3.Session(profile_name=cfg.aws.profile, region_name=cfg.aws.region)
    except botocore.exceptions.ProfileNotFound:
        return False
    return session.get_credentials() is not None


@dataclass
class Target:
    """Access to one AWS environment for one fleet."""

    cfg: FleetConfig
    home: Path
    sandbox: Sandbox | None = None
    _session: boto3.Session | None = field(default=None, repr=False, compare=False)

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox is not None

    @property
    def label(self) -> str:
        if self.sandbox is not None:
            return f"sandbox (AWS emulator at {self.sandbox.state.aws.url})"
        return f"AWS {self.cfg.aws.region}" + (
            f" (profile {self.cfg.aws.profile})" if self.cfg.aws.profile else ""
        )

    @property
    def workdir(self) -> Path:
        return self.home / "work" / ("sandbox" if self.is_sandbox else "aws")

    def session(self) -> boto3.Session:
        """One boto3 session per target (creating one costs a noticeable fraction of a second)."""
        if self._session is None:
            if self.sandbox is not None:
                self._session = self.sandbox.boto3_session()
            else:
                self._session = boto3.Session(
                    profile_name=self.cfg.aws.profile, region_name=self.cfg.aws.region
                )
        return self._session

    def client(self, service: str) -> Any:
        endpoint = None
        if self.sandbox is not None:
            endpoint = self.sandbox.endpoint
        elif service in self.cfg.aws.endpoints:
            endpoint = self.cfg.aws.endpoints[service]
        return self.session().client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    def account_id(self) -> str:
        if self.sandbox is not None:
            return SANDBOX_ACCOUNT_ID
        try:
            ident = self.client("sts").get_caller_identity()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise TargetError(
                f"cannot use the AWS credentials ({exc}); check `aws sts get-caller-identity` "
                "or use --sandbox"
            ) from exc
        account: str = ident["Account"]
        return account

    def terraform_env(self) -> dict[str, str]:
        if self.sandbox is not None:
            return self.sandbox.aws_env()
        env = {"AWS_REGION": self.cfg.aws.region}
        if self.cfg.aws.profile:
            env["AWS_PROFILE"] = self.cfg.aws.profile
        return env

    def bucket(self) -> str:
        return self.cfg.state_bucket(self.account_id())

    def backend_settings(self) -> dict[str, Any]:
        b = self.cfg.backend
        settings: dict[str, Any] = {
            "bucket": self.bucket(),
            "key": b.key,
            "region": self.cfg.aws.region,
            "encrypt": True,
        }
        if b.locking in ("both", "s3"):
            settings["use_lockfile"] = True
        if b.locking in ("both", "dynamodb"):
            settings["dynamodb_table"] = self.cfg.lock_table()
        if b.kms_key_id:
            settings["kms_key_id"] = b.kms_key_id
        if self.sandbox is not None:
            settings.update(self.sandbox.backend_settings())
        elif self.cfg.aws.profile:
            settings["profile"] = self.cfg.aws.profile
        return settings


def resolve_target(
    cfg: FleetConfig,
    project_dir: Path,
    *,
    sandbox: bool | None = None,
    start: bool = False,
    config_path: Path | None = None,
) -> Target:
    """Pick the target: the sandbox when asked (or when no AWS account is configured).

    `sandbox=None` means automatic: a sandbox that is already running wins, then real AWS when
    credentials are configured, else the sandbox. With `start`, the emulators are started when
    they are not running; without it, a stopped sandbox is an error.
    """
    home = project_home(project_dir)
    box = Sandbox(home, region=cfg.aws.region, config_path=config_path)
    use_sandbox = sandbox
    if use_sandbox is None:
        use_sandbox = box.running() or not has_aws_credentials(cfg)
    if not use_sandbox:
        return Target(cfg, home)
    if start:
        box.start()
    elif not box.running():
        raise SandboxNotRunning("the sandbox is not running; start it with `runnerfleet up`")
    return Target(cfg, home, box)
