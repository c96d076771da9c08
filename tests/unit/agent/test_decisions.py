"""The agent's pure decisions."""

from __future__ import annotations

import pytest

from runnerfleet.agent.decisions import (
    Action,
    Backoff,
    State,
    interrupted,
    on_registration_consumed,
    on_runner_exit,
    on_start_failures_exhausted,
    should_decrement,
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
    in_asg = on_runner_exit(ephemeral=True, in_asg=True, exit_code=0, went_online=True)
    assert in_asg is Action.TERMINATE_SELF
    static = on_runner_exit(ephemeral=True, in_asg=False, exit_code=0, went_online=True)
    assert static is Action.AWAIT_REGISTRATION
    assert on_runner_exit(ephemeral=True, exit_code=1, went_online=False) is Action.RETRY_START
    assert on_runner_exit(ephemeral=False, exit_code=3, went_online=True) is (Action.RESTART_RUNNER)


def test_start_failure_decisions_replace_asg_hosts_and_keep_static_ones() -> None:
    assert on_start_failures_exhausted(ephemeral=True, in_asg=True) is Action.TERMINATE_SELF
    assert on_start_failures_exhausted(ephemeral=False, in_asg=True) is Action.TERMINATE_SELF
    assert on_start_failures_exhausted(ephemeral=True, in_asg=False) is Action.EXIT
    assert on_start_failures_exhausted(ephemeral=False, in_asg=False) is Action.EXIT


def test_consumed_registration_decisions() -> None:
    assert on_registration_consumed(ephemeral=False, configured=True) is Action.RESTART_RUNNER
    assert on_registration_consumed(ephemeral=False, configured=False) is Action.EXIT
    consumed = on_registration_consumed(ephemeral=True, configured=True, in_asg=True)
    assert consumed is Action.TERMINATE_SELF
    consumed = on_registration_consumed(ephemeral=True, configured=False, in_asg=False)
    assert consumed is Action.AWAIT_REGISTRATION


def test_decrement_only_above_the_minimum() -> None:
    assert should_decrement(desired=3, min_size=1)
    assert not should_decrement(desired=1, min_size=1)
    assert not should_decrement(desired=0, min_size=0)


def test_enums_are_their_values_on_python_3_10() -> None:
    assert str(State.ONLINE) == "online" and f"{Action.EXIT}" == "exit"
    assert State("online") is State.ONLINE and isinstance(State.ONLINE, str)
    assert State.ONLINE.upper() == "ONLINE"  # a real str, as StrEnum members are
