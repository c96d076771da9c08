"""The agent's pure decisions."""

from __future__ import annotations

import pytest

from runnerfleet.agent.decisions import (
    Action,
    Backoff,
    interrupted,
    on_registration_consumed,
    on_runner_exit,
    on_start_failures_exhausted,
)


def test_backoff_grows_and_is_capped_and_bounded() -> None:
    b = Backoff(base=1, factor=2, cap=10, attempts=4)
    assert [b.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert not b.exhausted(3) and b.exhausted(4)
    with pytest.raises(ValueError):
        b.delay(0)


@pytest.mark.parametrize(
    ("spot", "lifecycle", "stop", "expected"),
    [
        (None, None, False, False),
        (None, "InService", False, False),
        ("terminate", None, False, True),
        ("stop", None, False, True),
        (None, "Terminated", False, True),
        (None, "Terminating:Wait", False, True),
        (None, None, True, True),
    ],
)
def test_interrupted(spot: str | None, lifecycle: str | None, stop: bool, expected: bool) -> None:
    assert interrupted(spot, lifecycle, stop) is expected


def test_runner_exit_decisions() -> None:
    assert on_runner_exit(ephemeral=True, exit_code=0, went_online=True) is Action.TERMINATE_SELF
    assert on_runner_exit(ephemeral=True, exit_code=1, went_online=False) is Action.RETRY_START
    assert on_runner_exit(ephemeral=False, exit_code=3, went_online=True) is (Action.RESTART_RUNNER)
    assert on_start_failures_exhausted(ephemeral=True) is Action.TERMINATE_SELF
    assert on_start_failures_exhausted(ephemeral=False) is Action.EXIT


def test_consumed_registration_decisions() -> None:
    assert on_registration_consumed(ephemeral=False, configured=True) is Action.RESTART_RUNNER
    assert on_registration_consumed(ephemeral=False, configured=False) is Action.EXIT
    assert on_registration_consumed(ephemeral=True, configured=True) is Action.TERMINATE_SELF
