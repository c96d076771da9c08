"""Pure decisions of the agent: backoff, what to do when the runner exits or the host is told
to go away. No I/O here, so every branch is a plain unit test.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.StrEnum):
    """Host states, reported in the status file and the `runnerfleet:agent-state` tag."""

    STARTING = "starting"
    WAITING = "waiting-for-registration"
    REGISTERING = "registering"
    ONLINE = "online"
    DRAINING = "draining"
    DONE = "done"
    FAILED = "failed"


class Action(enum.StrEnum):
    """What the agent does next."""

    RESTART_RUNNER = "restart-runner"
    RETRY_START = "retry-start"
    TERMINATE_SELF = "terminate-self"
    DRAIN = "drain"
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


def on_runner_exit(*, ephemeral: bool, exit_code: int, went_online: bool) -> Action:
    """What to do when the runner process ends.

    An ephemeral runner that went online ran its one job (or was told to stop): the host is
    finished and terminates itself. A runner that never got online failed to start: retry (the
    caller bounds the retries). A persistent runner is restarted (updates exit it on purpose).
    """
    if not went_online:
        return Action.RETRY_START
    if ephemeral:
        return Action.TERMINATE_SELF
    del exit_code  # persistent runners come back whatever the reason
    return Action.RESTART_RUNNER


def on_start_failures_exhausted(*, ephemeral: bool) -> Action:
    """After the bounded retries: ephemeral hosts go away (the fleet replaces them); persistent
    hosts stay up, reported failed, for an operator or the reconciler to look at."""
    return Action.TERMINATE_SELF if ephemeral else Action.EXIT


def on_registration_consumed(*, ephemeral: bool, configured: bool) -> Action:
    """The parameter is gone but this host already consumed one (agent restart, or another
    reader took it). A configured persistent runner just runs again; an ephemeral host cannot
    reuse a single-use JIT config and terminates so that the fleet replaces it."""
    if not ephemeral and configured:
        return Action.RESTART_RUNNER
    return Action.TERMINATE_SELF if ephemeral else Action.EXIT
