"""The control plane's settings: one `ControlPlaneSettings` for every way it runs.

- `ControlPlaneSettings.from_env(os.environ)`: the Lambda functions. Standard library only
  (the zip has no pydantic); a bad value raises ValueError naming the variable.
- `ControlPlaneSettings.from_config(cfg, ...)`: the CLI (`runnerfleet serve`, `reconcile`,
  `registrar run-once`) and the sandbox, from a runnerfleet.config.FleetConfig.

The Lambda environment contract (infra/modules/control-plane sets these; a new variable is
added here first). Every function gets the same set:

=====================================  ==========================================================
RUNNERFLEET_NAME                       fleet name (required): tags, `/<name>/...` SSM paths
RUNNERFLEET_TABLE                      the control plane's DynamoDB table (jobs, pool
                                       counters, delivery ids, claims, cooldowns); unset:
                                       in-process stores (a warning is logged)
RUNNERFLEET_MODE                       `static` | `autoscaled` (default autoscaled)
RUNNERFLEET_RUNNER_COUNT               static mode: number of hosts (default 0)
RUNNERFLEET_RUNNER_LABELS              comma list of the fleet's extra runner labels
RUNNERFLEET_POOL_LABELS                JSON {pool: [labels]} (default {"default": []})
RUNNERFLEET_POOL_IDLE                  JSON {pool: n}: hot idle runners kept per pool
                                       (optional, default 0 for every pool)
RUNNERFLEET_EPHEMERAL                  `true` | `false` (default false)
RUNNERFLEET_GITHUB_OWNER               organization (or owner of the repository); required by
                                       the reconcile and registrar functions
RUNNERFLEET_GITHUB_REPOSITORY          repository name for repo-level runners; empty: org level
RUNNERFLEET_GITHUB_URL                 web URL (default https://github.com)
RUNNERFLEET_GITHUB_API_URL             API URL (default https://api.github.com)
RUNNERFLEET_GITHUB_SECRET_ID           Secrets Manager id of the GitHub credentials; empty:
                                       SSM `/<name>/github/*`
RUNNERFLEET_RUNNER_GROUP               runner group name for JIT configs (default `Default`);
                                       the registrar resolves it to its id once per process
                                       (GET /orgs/{org}/actions/runner-groups; `Default` is
                                       id 1 and needs no call)
RUNNERFLEET_RUNNER_GROUP_ID            runner group id (optional); when set it wins over
                                       RUNNERFLEET_RUNNER_GROUP
RUNNERFLEET_WEBHOOK_SECRET_PARAMETER   SSM SecureString of the webhook secret (default
                                       `/<name>/github/webhook-secret`)
RUNNERFLEET_BOOT_TIMEOUT               seconds a host may take to bring its runner online
                                       (default 600)
RUNNERFLEET_IDLE_GRACE                 seconds an idle runner host is kept before scale-in
                                       (default 600)
RUNNERFLEET_GITHUB_SYNC_SECONDS        the reconcile pass asks GitHub (runner list, queue
                                       discovery) at most this often; 0: every pass (poll
                                       mode, for a fleet without webhooks). Default 300
RUNNERFLEET_JOB_RECHECK_SECONDS        a job queued this long, or in progress on an idle or
                                       gone runner, is asked of GitHub again (a lost
                                       webhook). Default 300, 10-3600
RUNNERFLEET_KMS_KEY_ID                 KMS key for the registration SecureStrings (optional)
RUNNERFLEET_LOG_LEVEL                  logging level (default INFO)
=====================================  ==========================================================
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["static", "autoscaled"]
DEFAULT_GITHUB_URL = "https://github.com"
DEFAULT_API_URL = "https://api.github.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def table_name(name: str) -> str:
    """The control plane's table as infra/modules/control-plane names it."""
    return f"{name}-control-plane"


def _labels(raw: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in raw.split(",") if x.strip())


def _json_map(env: Mapping[str, str], key: str, default: str) -> dict[str, Any]:
    raw = env.get(key) or default
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{key} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a JSON object, got {type(value).__name__}")
    return value


def _int(env: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = env.get(key) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{key} must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], key: str) -> bool:
    raw = (env.get(key) or "false").lower()
    if raw not in ("true", "false"):
        raise ValueError(f"{key} must be true or false, got {raw!r}")
    return raw == "true"


@dataclass(frozen=True)
class ControlPlaneSettings:
    """Everything the webhook processor, the reconciler and the registrar are built from."""

    name: str
    table: str | None = None
    mode: Mode = "autoscaled"
    runner_count: int = 0
    runner_labels: tuple[str, ...] = ()
    pool_labels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"default": ()})
    pool_sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    pool_idle: Mapping[str, int] = field(default_factory=dict)
    ephemeral: bool = False
    github_owner: str = ""
    github_repository: str | None = None
    github_url: str = DEFAULT_GITHUB_URL
    github_api_url: str = DEFAULT_API_URL
    github_secret_id: str | None = None
    runner_group: str = "Default"
    runner_group_id: int | None = None
    webhook_secret_parameter: str = ""
    boot_timeout: float = 600.0
    idle_grace: float = 600.0
    github_sync_seconds: float = 300.0
    job_recheck_seconds: float = 300.0
    kms_key_id: str | None = None
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("the fleet name is empty (RUNNERFLEET_NAME / name in the config)")
        if self.mode not in ("static", "autoscaled"):
            raise ValueError(f"mode is {self.mode!r}; use static or autoscaled")
        if not self.webhook_secret_parameter:
            object.__setattr__(
                self, "webhook_secret_parameter", f"/{self.name}/github/webhook-secret"
            )
        if not 1 <= len(self.runner_group.strip()) <= 100:
            raise ValueError(
                f"runner group {self.runner_group!r} is not a runner group name "
                "(RUNNERFLEET_RUNNER_GROUP / [github] runner_group: 1-100 characters)"
            )
        unknown = sorted(set(self.pool_idle) - set(self.pool_labels))
        if unknown and self.mode == "autoscaled":
            raise ValueError(f"idle counts name pools that do not exist: {unknown}")

    # ---- constructors --------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ControlPlaneSettings:
        """The Lambda's settings (see the module docstring for every variable)."""
        name = env.get("RUNNERFLEET_NAME", "")
        if not name:
            raise ValueError("RUNNERFLEET_NAME is not set in the function's environment")
        mode = env.get("RUNNERFLEET_MODE") or "autoscaled"
        if mode not in ("static", "autoscaled"):
            raise ValueError(f"RUNNERFLEET_MODE is {mode!r}; use static or autoscaled")
        pools = _json_map(env, "RUNNERFLEET_POOL_LABELS", '{"default": []}')
        for pool, labels in pools.items():
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                raise ValueError(f"RUNNERFLEET_POOL_LABELS[{pool!r}] must be a list of strings")
        idle = _json_map(env, "RUNNERFLEET_POOL_IDLE", "{}")
        for pool, n in idle.items():
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 1000:
                raise ValueError(f"RUNNERFLEET_POOL_IDLE[{pool!r}] must be 0..1000, got {n!r}")
        level = (env.get("RUNNERFLEET_LOG_LEVEL") or "INFO").upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"RUNNERFLEET_LOG_LEVEL is {level!r}; use one of {LOG_LEVELS}")
        return cls(
            name=name,
            table=env.get("RUNNERFLEET_TABLE") or None,
            mode="static" if mode == "static" else "autoscaled",
            runner_count=_int(env, "RUNNERFLEET_RUNNER_COUNT", 0, 0, 1000),
            runner_labels=_labels(env.get("RUNNERFLEET_RUNNER_LABELS", "")),
            pool_labels={str(k): tuple(v) for k, v in pools.items()},
            pool_idle={str(k): int(v) for k, v in idle.items()},
            ephemeral=_bool(env, "RUNNERFLEET_EPHEMERAL"),
            github_owner=env.get("RUNNERFLEET_GITHUB_OWNER", ""),
            github_repository=env.get("RUNNERFLEET_GITHUB_REPOSITORY") or None,
            github_url=(env.get("RUNNERFLEET_GITHUB_URL") or DEFAULT_GITHUB_URL).rstrip("/"),
            github_api_url=(env.get("RUNNERFLEET_GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            github_secret_id=env.get("RUNNERFLEET_GITHUB_SECRET_ID") or None,
            runner_group=env.get("RUNNERFLEET_RUNNER_GROUP") or "Default",
            runner_group_id=(
                _int(env, "RUNNERFLEET_RUNNER_GROUP_ID", 1, 1, 2**31 - 1)
                if env.get("RUNNERFLEET_RUNNER_GROUP_ID")
                else None
            ),
            webhook_secret_parameter=env.get("RUNNERFLEET_WEBHOOK_SECRET_PARAMETER", ""),
            boot_timeout=float(_int(env, "RUNNERFLEET_BOOT_TIMEOUT", 600, 60, 3600)),
            idle_grace=float(_int(env, "RUNNERFLEET_IDLE_GRACE", 600, 0, 3600)),
            github_sync_seconds=float(_int(env, "RUNNERFLEET_GITHUB_SYNC_SECONDS", 300, 0, 3600)),
            job_recheck_seconds=float(_int(env, "RUNNERFLEET_JOB_RECHECK_SECONDS", 300, 10, 3600)),
            kms_key_id=env.get("RUNNERFLEET_KMS_KEY_ID") or None,
            log_level=level,
        )

    @classmethod
    def from_config(
        cls,
        cfg: Any,
        *,
        table: str | None = None,
        github_url: str | None = None,
        github_api_url: str | None = None,
    ) -> ControlPlaneSettings:
        """From a runnerfleet.config.FleetConfig (CLI, sandbox). `table`: the control plane's
        table when it is deployed (see compose.deployed_table); the GitHub URLs override the
        config's (the sandbox's emulator)."""
        r, gh = cfg.runners, cfg.github
        return cls(
            name=cfg.name,
            table=table,
            mode=r.mode,
            runner_count=r.count,
            runner_labels=tuple(r.labels),
            pool_labels={p.name: tuple(p.labels) for p in r.pools},
            pool_sizes={p.name: (p.min_size, p.max_size) for p in r.pools},
            pool_idle={p.name: p.idle for p in r.pools},
            ephemeral=r.ephemeral,
            github_owner=gh.owner,
            github_repository=gh.repository,
            runner_group=gh.runner_group,
            github_url=(github_url or gh.url).rstrip("/"),
            github_api_url=(github_api_url or gh.api_url).rstrip("/"),
            boot_timeout=float(cfg.control_plane.boot_timeout_seconds),
            idle_grace=float(cfg.control_plane.idle_grace_seconds),
            github_sync_seconds=float(cfg.control_plane.github_sync_seconds),
            job_recheck_seconds=float(cfg.control_plane.job_recheck_seconds),
        )

    # ---- what the parts need -------------------------------------------------------------
    def pools(self) -> list[Any]:
        """The fleet's pools (runnerfleet.controlplane.scaler.Pool)."""
        from runnerfleet.controlplane.scaler import build_pools

        return build_pools(
            self.mode,
            self.runner_labels,
            self.pool_labels,
            ephemeral=self.ephemeral,
            static_count=self.runner_count,
            sizes=self.pool_sizes,
            idle=self.pool_idle,
        )

    def registrar_settings(self) -> Any:
        """runnerfleet.controlplane.registrar.RegistrarSettings of this fleet."""
        from runnerfleet.controlplane.registrar import RegistrarSettings

        self.require_github()
        return RegistrarSettings(
            name=self.name,
            owner=self.github_owner,
            repository=self.github_repository,
            github_url=self.github_url,
            api_url=self.github_api_url,
            ephemeral=self.ephemeral,
            labels=self.runner_labels,
            pool_labels=dict(self.pool_labels),
            runner_group=self.runner_group,
            runner_group_id=self.runner_group_id,
            kms_key_id=self.kms_key_id,
        )

    def require_github(self) -> None:
        if not self.github_owner:
            raise ValueError(
                "the GitHub owner is not set (RUNNERFLEET_GITHUB_OWNER / [github] owner)"
            )

    def configure_logging(self) -> None:
        logging.getLogger("runnerfleet").setLevel(self.log_level)
