"""Bounded retries: a call never waits past its budget, the invocation's budget or deadline,
or the longest single wait; it fails at once naming the wait GitHub asked for.

All on the virtual clock: `clock.sleeps` records every wait the client would have slept.
"""

from __future__ import annotations

import pytest
from github_fakes import FakeClock, MakeClient

from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.errors import (
    BudgetExceeded,
    RateLimitBudgetExceeded,
    RateLimitError,
    RetryBudgetExceeded,
    TransientError,
)

GROUPS = "/orgs/acme/actions/runner-groups"


def test_retry_after_a_day_fails_at_once_naming_the_wait(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client()
    client.list_runners("acme")  # warm up auth
    start = clock()
    emulator.inject(GROUPS, "secondary_rate_limit", retry_after=86400)
    with pytest.raises(RateLimitBudgetExceeded) as err:
        client.list_runner_groups("acme")
    assert err.value.requested_wait == 86400
    assert "86400 s" in str(err.value) and "retry-after" in str(err.value)
    assert isinstance(err.value, RateLimitError)
    assert clock.sleeps == [] and clock() - start < 60  # within the budget: no wait at all


def test_exhausted_primary_limit_fails_within_the_budget(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client()
    client.list_runners("acme")
    emulator.inject(GROUPS, "primary_rate_limit", reset_in=3600)
    with pytest.raises(RateLimitBudgetExceeded) as err:
        client.list_runner_groups("acme")
    assert 3595 <= err.value.requested_wait <= 3600
    assert "primary rate limit" in str(err.value) and "3600 s" in str(err.value)
    assert clock.sleeps == []
    # The next call does not even send a request while the limit is known to be spent.
    sent = len(emulator.request_log)
    with pytest.raises(RateLimitBudgetExceeded):
        client.list_runners("acme")
    assert len(emulator.request_log) == sent


def test_short_waits_within_the_budget_are_taken(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client()
    client.list_runners("acme")
    emulator.inject(GROUPS, "secondary_rate_limit", retry_after=20)
    assert client.list_runner_groups("acme")
    assert len(clock.sleeps) == 1 and 20 <= clock.sleeps[0] < 21


def test_call_budget_bounds_the_sum_of_waits(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    """Each retry-after is short, but together they would pass the call's budget."""
    client = make_client(call_budget_seconds=50, max_retries=10)
    client.list_runners("acme")
    emulator.inject(GROUPS, "secondary_rate_limit", times=5, retry_after=20)
    with pytest.raises(RateLimitBudgetExceeded, match="call's time budget"):
        client.list_runner_groups("acme")
    assert len(clock.sleeps) == 2 and sum(clock.sleeps) < 50


def test_secondary_limit_without_retry_after_is_bounded(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client(call_budget_seconds=120, max_wait_seconds=120)
    client.list_runners("acme")
    emulator.inject(GROUPS, "secondary_rate_limit", times=5, retry_after=None)
    with pytest.raises(RateLimitBudgetExceeded) as err:
        client.list_runner_groups("acme")
    assert sum(clock.sleeps) <= 120  # not 1,813 s
    assert err.value.requested_wait >= 120


def test_lambda_deadline_is_respected(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    """A Lambda with 12 s left (3 s reserved) will not wait a 30 s retry-after."""
    client = make_client()
    client.list_runners("acme")
    deadline = clock() + 12.0
    client.begin_invocation(lambda: deadline - clock())  # like get_remaining_time / 1000
    emulator.inject(GROUPS, "secondary_rate_limit", retry_after=30)
    with pytest.raises(RateLimitBudgetExceeded, match="invocation's deadline") as err:
        client.list_runner_groups("acme")
    assert err.value.requested_wait == 30 and err.value.allowed <= 9
    assert clock.sleeps == []
    client.begin_invocation(lambda: 900.0)  # the next invocation has time
    emulator.inject(GROUPS, "secondary_rate_limit", retry_after=30)
    assert client.list_runner_groups("acme")
    assert len(clock.sleeps) == 1 and 30 <= clock.sleeps[0] < 31
    client.begin_invocation(lambda: 2.0)  # less than the 3 s reserve: nothing is sent
    sent = len(emulator.request_log)
    with pytest.raises(RetryBudgetExceeded, match="deadline is spent"):
        client.list_runners("acme")
    assert len(emulator.request_log) == sent


def test_cap_on_a_single_wait(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client(max_wait_seconds=10)
    client.list_runners("acme")
    emulator.inject(GROUPS, "secondary_rate_limit", retry_after=30)
    with pytest.raises(RateLimitBudgetExceeded, match="cap on a single wait leaves 10 s"):
        client.list_runner_groups("acme")
    assert clock.sleeps == []


def test_invocation_budget_spans_calls(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client()
    client.list_runners("acme")
    client.begin_invocation(budget_seconds=25)
    emulator.inject(GROUPS, "secondary_rate_limit", retry_after=15)
    assert client.list_runner_groups("acme")  # 15 s of 25 spent
    emulator.inject(GROUPS, "secondary_rate_limit", retry_after=15)
    with pytest.raises(RateLimitBudgetExceeded, match="invocation's time budget"):
        client.list_runner_groups("acme")


def test_server_errors_stop_at_the_budget(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client(call_budget_seconds=5, max_retries=10)
    client.list_runners("acme")
    emulator.inject(GROUPS, "5xx", times=10, status=503)
    with pytest.raises(RetryBudgetExceeded) as err:
        client.list_runner_groups("acme")
    assert isinstance(err.value, TransientError) and isinstance(err.value, BudgetExceeded)
    assert sum(clock.sleeps) < 5
    assert "server error 503" in str(err.value)


def test_budgets_must_be_positive() -> None:
    from runnerfleet.github.budget import Budget

    with pytest.raises(ValueError, match="call_budget_seconds"):
        Budget(lambda: 0.0, call_budget_seconds=0)
    with pytest.raises(ValueError, match="budget_seconds"):
        Budget(lambda: 0.0).begin(budget_seconds=-1)
