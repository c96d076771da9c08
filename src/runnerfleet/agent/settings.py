"""The agent's settings, read from the environment that `/etc/runnerfleet/host.env` provides.

Besides the rendered variables: RUNNERFLEET_RUNNER_USER (default `runner`; empty runs the
runner as the agent's own user), RUNNERFLEET_STATE_DIR (default `/var/lib/runnerfleet`) and
RUNNERFLEET_POLL_INTERVAL (seconds, default 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runnerfleet.agent.decisions import Backoff


class SettingsError(ValueError):
    """A required host setting is missing or malformed."""


@dataclass(frozen=True)
class AgentSettings:
    """Where the agent finds its registration and runner, and how patient it is."""

    name: str
    region: str
    registration_parameter_prefix: str
    runner_dir: Path
    ephemeral: bool = False
    labels: tuple[str, ...] = ("self-hosted", "linux", "x64")
    runner_user: str | None = "runner"
    status_dir: Path = Path("/var/lib/runnerfleet/status")
    state_file: Path = Path("/var/lib/runnerfleet/agent-state.json")
    poll_interval: float = 5.0
    registration_timeout: float = 1800.0
    online_grace: float = 60.0
    drain_grace: float = 90.0
    config_timeout: float = 300.0
    start_backoff: Backoff = field(default_factory=Backoff)
    wait_backoff: Backoff = field(default_factory=lambda: Backoff(base=2.0, cap=30.0, attempts=0))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AgentSettings:
        """Build from RUNNERFLEET_* variables; errors name the variable to set."""

        def need(key: str) -> str:
            value = env.get(key, "").strip()
            if not value:
                raise SettingsError(
                    f"{key} is not set; it comes from /etc/runnerfleet/host.env (rendered user "
                    "data) - check that the host booted with runnerfleet's cloud-init"
                )
            return value

        ephemeral_raw = env.get("RUNNERFLEET_EPHEMERAL", "false").strip().lower()
        if ephemeral_raw not in ("true", "false"):
            raise SettingsError(
                f"RUNNERFLEET_EPHEMERAL must be true or false, not {ephemeral_raw!r}"
            )
        labels = tuple(x for x in env.get("RUNNERFLEET_RUNNER_LABELS", "").split(",") if x)
        state_dir = Path(env.get("RUNNERFLEET_STATE_DIR", "/var/lib/runnerfleet"))
        poll_raw = env.get("RUNNERFLEET_POLL_INTERVAL", "5").strip()
        try:
            poll = float(poll_raw)
        except ValueError:
            poll = -1.0
        if not 0 < poll <= 300:
            raise SettingsError(
                f"RUNNERFLEET_POLL_INTERVAL must be a number of seconds in (0, 300], not "
                f"{poll_raw!r}"
            )
        return cls(
            name=need("RUNNERFLEET_NAME"),
            region=need("RUNNERFLEET_REGION"),
            registration_parameter_prefix=need("RUNNERFLEET_REGISTRATION_PARAMETER_PREFIX"),
            runner_dir=Path(env.get("RUNNERFLEET_RUNNER_DIR", "/home/runner/actions-runner")),
            ephemeral=ephemeral_raw == "true",
            labels=labels or ("self-hosted", "linux", "x64"),
            runner_user=env.get("RUNNERFLEET_RUNNER_USER", "runner").strip() or None,
            status_dir=state_dir / "status",
            state_file=state_dir / "agent-state.json",
            poll_interval=poll,
        )
