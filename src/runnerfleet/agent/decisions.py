"""Pure decisions of the agent: backoff, what to do when the runner exits or the host is told
to go away. No I/O here, so every branch is a plain unit test.

Runs on the hosts' Python 3.10 (Ubuntu 22.04): no `enum.StrEnum`, so the enums mix in `str`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class _StrEnum(str, enum.Enum):
    """`enum.StrEnum` for Python 3.10: members are their values, also under `str()`."""

    def __str__(self) -> str:
        return str(self.value)


class State(_StrEnum):
    """Host states, reported in the status file and the `runnerfleet:agent-state` tag."""

    STARTING = "starting"
    WAITING = "waiting-for-registration"
    REGISTERING = "registering"
    ONLINE = "online"
    DRAINING = "draining"
    DONE = "done"
    FAILED = "failed"


class Action(_StrEnum):
    """What the agent does next."""

    RESTART_RUNNER = "restart-runner"
    RETRY_START = "retry-start"
    TERMINATE_SELF = "terminate-self"
    DRAIN = "drain"
    AWAIT_REGISTRATION = "await-registration"
    EXIT = "exit"
    CONTINUE = "continue"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with a cap and a bounded number of attempts."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    attempts: int = 6

    def delay(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        return float(min(self.cap, self.base * self.factor ** (attempt - 1)))

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.attempts


def interrupted(spot_action: str | None, lifecycle_state: str | None, stop_requested: bool) -> bool:
    """True when the host must drain: a spot notice, an ASG termination, or a shutdown."""
    if stop_requested:
        return True
    if spot_action in ("terminate", "stop", "hibernate"):
        return True
    return lifecycle_state is not None and lifecycle_state.lower().startswith("terminat")


def on_runner_exit(
    *, ephemeral: bool, exit_code: int, went_online: bool, in_asg: bool = False
) -> Action:
    """What to do when the runner process ends.

    An ephemeral runner that went online ran its one job (or was told to stop): an Auto
    Scaling host terminates itself (its group replaces it if needed); a static host, which
    nothing would replace, stays and waits for a fresh registration for its next job. A runner
    that never got online failed to start: retry (the caller bounds the retries). A persistent
    runner is restarted (updates exit it on purpose).
    """
    if not went_online:
        return Action.RETRY_START
    if ephemeral:
        return Action.TERMINATE_SELF if in_asg else Action.AWAIT_REGISTRATION
    del exit_code  # persistent runners come back whatever the reason
    return Action.RESTART_RUNNER


def on_start_failures_exhausted(*, ephemeral: bool, in_asg: bool = False) -> Action:
    """After the bounded retries: an Auto Scaling host goes away (its group replaces it); a
    static host stays up, reported failed (tag), for the reconciler or an operator."""
    del ephemeral  # the same for both: what matters is whether something replaces the host
    return Action.TERMINATE_SELF if in_asg else Action.EXIT


def on_registration_consumed(*, ephemeral: bool, configured: bool, in_asg: bool = False) -> Action:
    """The parameter is gone but this host already consumed one (agent restart, or another
    reader took it). A configured persistent runner just runs again. An ephemeral host cannot
    reuse a single-use JIT config: an Auto Scaling host terminates so that its group replaces
    it; a static host waits for a fresh registration."""
    if not ephemeral:
        return Action.RESTART_RUNNER if configured else Action.EXIT
    return Action.TERMINATE_SELF if in_asg else Action.AWAIT_REGISTRATION


def should_decrement(*, desired: int, min_size: int) -> bool:
    """Terminate with ShouldDecrementDesiredCapacity only above the group's minimum: AWS
    refuses the decrement at the minimum (ValidationError), and there the group must replace
    the host anyway."""
    return desired > min_size
