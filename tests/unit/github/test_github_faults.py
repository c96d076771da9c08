"""Faults and rate limits, on a virtual clock: the client never really sleeps here."""

from __future__ import annotations

import pytest
from github_fakes import FakeClock, MakeClient

from runnerfleet.github import emulator_runner
from runnerfleet.github.client import GitHubClient
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.errors import RunnerNameConflict, TransientError
from runnerfleet.github.retry import decide

RUNNERS = "/orgs/{org}/actions/runners"
JIT = "/orgs/{org}/actions/runners/generate-jitconfig"


def _statuses(emulator: GitHubEmulator, method: str, template: str) -> list[int]:
    return [s for m, t, s in emulator.request_log if (m, t) == (method, template)]


def test_5xx_then_success(client: GitHubClient, emulator: GitHubEmulator, clock: FakeClock) -> None:
    emulator.inject("/orgs/acme/actions/runners", "5xx", times=2, status=503)
    assert client.list_runners("acme") == []
    assert _statuses(emulator, "GET", RUNNERS) == [503, 503, 200]
    assert len(clock.sleeps) == 2
    assert 1.0 <= clock.sleeps[0] < 1.3 and 2.0 <= clock.sleeps[1] < 2.6  # backoff + jitter


def test_retries_are_bounded(make_client: MakeClient, emulator: GitHubEmulator) -> None:
    client = make_client(max_retries=3)
    emulator.inject(RUNNERS, "5xx", times=10, method="GET")  # a path template works too
    with pytest.raises(TransientError) as err:
        client.list_runners("acme")
    assert err.value.status == 502
    assert _statuses(emulator, "GET", RUNNERS) == [502] * 4


def test_secondary_limit_honours_retry_after(
    client: GitHubClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client.list_runners("acme")  # warm up auth so the sleeps below are the limit's only
    start = clock()
    emulator.inject(
        "/orgs/acme/actions/runners/registration-token", "secondary_rate_limit", retry_after=30
    )
    client.create_registration_token("acme")
    assert len(clock.sleeps) == 1 and 30 <= clock.sleeps[0] < 31
    assert 30 <= clock() - start < 31
    assert _statuses(emulator, "POST", "/orgs/{org}/actions/runners/registration-token") == [
        403,
        201,
    ]


# Budgets generous enough for GitHub's long waits (tests of the defaults: test_github_budget).
PATIENT = {"call_budget_seconds": 3600.0, "max_wait_seconds": 900.0}


def test_secondary_limit_429_and_no_retry_after(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client(**PATIENT)
    client.list_runners("acme")
    emulator.inject("/orgs/acme/actions/runner-groups", "secondary_rate_limit", retry_after=None)
    emulator.inject(
        "/orgs/acme/actions/runner-groups", "secondary_rate_limit", retry_after=None, status=429
    )
    assert client.list_runner_groups("acme")
    assert len(clock.sleeps) == 2
    assert 60 <= clock.sleeps[0] < 65  # exponential backoff starting at 60 s
    assert 120 <= clock.sleeps[1] < 125


def test_primary_limit_waits_until_reset(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client(**PATIENT)
    client.list_runners("acme")
    emulator.inject("/orgs/acme/actions/runner-groups", "primary_rate_limit", reset_in=600)
    reset_at = int(clock()) + 600
    assert client.list_runner_groups("acme")
    assert clock() >= reset_at  # waited for the reset, on the virtual clock
    assert clock() < reset_at + 3
    assert _statuses(emulator, "GET", "/orgs/{org}/actions/runner-groups") == [403, 200]


def test_exhausted_limit_is_respected_before_the_next_call(
    make_client: MakeClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client = make_client(**PATIENT)
    client.list_runners("acme")
    emulator.inject("/orgs/acme/actions/runner-groups", "primary_rate_limit", reset_in=300)
    client.list_runner_groups("acme")
    waits = len(clock.sleeps)
    client.list_runners("acme")
    assert len(clock.sleeps) == waits  # limit reset already: no extra wait, no extra 403
    assert [s for _, _, s in emulator.request_log].count(403) == 1


def test_jit_lost_response_leaves_one_runner(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    # The emulator registers the runner, then answers 502 (the response is "lost").
    emulator.inject("/orgs/acme/actions/runners/generate-jitconfig", "5xx", phase="after")
    jit = client.generate_jit_config("acme", None, name="once", labels=["linux"])
    runners = emulator.runners("acme")
    assert [(r.id, r.name) for r in runners] == [(jit.runner.id, "once")]
    assert _statuses(emulator, "POST", JIT) == [502, 201]
    assert _statuses(emulator, "DELETE", "/orgs/{org}/actions/runners/{runner_id}") == [204]
    emulator_runner.connect(jit.encoded_jit_config).disconnect()  # the config we got works


def test_jit_timeout_leaves_one_runner(make_client: MakeClient, emulator: GitHubEmulator) -> None:
    client = make_client(timeout=0.3)
    client.list_runners("acme")
    emulator.inject(
        "/orgs/acme/actions/runners/generate-jitconfig", "latency", seconds=0.8, phase="after"
    )
    jit = client.generate_jit_config("acme", None, name="slow", labels=["linux"])
    assert [(r.id, r.name) for r in emulator.runners("acme")] == [(jit.runner.id, "slow")]


def test_jit_409_replaces_an_unused_registration(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    stale = client.generate_jit_config("acme", None, name="same", labels=["linux"])
    fresh = client.generate_jit_config("acme", None, name="same", labels=["linux"])
    assert fresh.runner.id != stale.runner.id
    assert [(r.id, r.name) for r in emulator.runners("acme")] == [(fresh.runner.id, "same")]


def test_jit_409_keeps_a_live_runner(client: GitHubClient, emulator: GitHubEmulator) -> None:
    live = client.generate_jit_config("acme", None, name="live", labels=["linux"])
    session = emulator_runner.connect(live.encoded_jit_config)
    with pytest.raises(RunnerNameConflict, match="online"):
        client.generate_jit_config("acme", None, name="live", labels=["linux"])
    assert [r.id for r in emulator.runners("acme")] == [live.runner.id]
    session.disconnect()


def test_jit_rate_limited_post_is_retried_once(
    client: GitHubClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    client.list_runners("acme")
    emulator.inject(
        "/orgs/acme/actions/runners/generate-jitconfig", "secondary_rate_limit", retry_after=5
    )
    client.generate_jit_config("acme", None, name="rl", labels=["linux"])
    assert _statuses(emulator, "POST", JIT) == [403, 201]
    assert len(emulator.runners("acme")) == 1


def test_revoked_installation_token_is_refreshed(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    client.list_runners("acme")
    with emulator.world.lock:
        emulator.world.tokens.clear()  # GitHub revoked the token early
    client.list_runners("acme")
    assert emulator.call_counts()["POST /app/installations/{installation_id}/access_tokens"] == 2


def test_plain_403_is_not_retried() -> None:
    d = decide(
        403, {"x-ratelimit-remaining": "10"}, '{"message":"Forbidden"}', attempt=0, now=0, jitter=0
    )
    assert d.retry is False
    assert decide(404, {}, "", attempt=0, now=0, jitter=0).retry is False
    assert decide(502, {}, "", attempt=3, now=0, jitter=0).delay == 8.0
