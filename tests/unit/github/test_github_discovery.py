"""Frugal GitHub use: conditional runner lists page by page, call counters, the cached
installation token, queued-job discovery without webhooks, and runner groups by name."""

from __future__ import annotations

import pytest
from github_fakes import FakeClock, MakeClient

from runnerfleet.github import emulator_runner
from runnerfleet.github.client import GitHubClient
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.errors import RunnerGroupNotFound
from runnerfleet.github.permissions import ENDPOINTS

RUNNERS = "GET /orgs/{org}/actions/runners"
TOKEN = "POST /app/installations/{installation_id}/access_tokens"


def _register(emulator: GitHubEmulator, n: int) -> None:
    with emulator.world.lock:  # straight into the emulator's state: fast
        for i in range(n):
            emulator.world.create_runner("acme", None, f"r-{i:03d}", ["linux"], ephemeral=True)


def test_runner_list_is_conditional_per_page(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    _register(emulator, 201)  # 3 pages of 100
    first = client.list_runners("acme")
    assert len(first) == 201
    client.reset_stats()
    rate_before = emulator.request_log.count(("GET", "/orgs/{org}/actions/runners", 200))
    again = client.list_runners("acme")
    assert again == first  # rebuilt from the cached pages
    stats = client.stats()
    assert stats.not_modified == {RUNNERS: 3}
    assert stats.calls == {}  # nothing that counts against the rate limit
    assert emulator.request_log.count(("GET", "/orgs/{org}/actions/runners", 200)) == rate_before
    # One runner changes on the last page: only that page is fetched again.
    last = first[-1]
    client.add_runner_labels("acme", None, last.id, ["gpu"])
    client.reset_stats()
    third = client.list_runners("acme")
    assert third[-1].labels[-1] == "gpu"
    assert client.stats().calls == {RUNNERS: 1} and client.stats().not_modified == {RUNNERS: 2}


def test_304s_cost_no_rate_limit(client: GitHubClient, emulator: GitHubEmulator) -> None:
    client.list_runners("acme")
    bucket = next(iter(emulator._buckets.values()))
    used = bucket.used
    for _ in range(5):
        client.list_runners("acme")
    assert bucket.used == used
    assert client.stats().not_modified[RUNNERS] == 5
    assert emulator.call_counts()[RUNNERS] == 6
    assert emulator.call_counts(not_modified=False)[RUNNERS] == 1
    from runnerfleet.github.emulator import EmulatorControl

    with EmulatorControl(emulator.url) as control:
        assert control.counted_calls()[RUNNERS] == 1


def test_stats_keys_are_table_endpoints(client: GitHubClient, emulator: GitHubEmulator) -> None:
    """Every call the client makes is named by a row of the permission table."""
    emulator.enqueue_job("acme", "app", ["linux"])
    client.list_queued_jobs()
    jit = client.generate_jit_config("acme", None, name="one", labels=["x"])
    client.delete_runner("acme", None, jit.runner.id)
    client.list_runner_groups("acme")
    keys = set(client.stats().calls) | set(client.stats().not_modified)
    assert keys <= {e.key for e in ENDPOINTS}, keys - {e.key for e in ENDPOINTS}
    assert client.stats().calls[TOKEN] == 1  # one installation token for all of it


def test_installation_token_cached_per_process(client: GitHubClient, clock: FakeClock) -> None:
    for _ in range(20):
        client.list_runners("acme")
        clock.advance(60)  # 20 minutes
    assert client.stats().calls[TOKEN] == 1


def test_queued_jobs_discovered_without_webhooks(
    make_client: MakeClient, emulator: GitHubEmulator
) -> None:
    """Repositories → queued and in-progress runs → their queued jobs, consistent with the
    emulator's job state; a second poll with nothing changed costs only 304s."""
    client = make_client()
    a = emulator.enqueue_job("acme", "app", ["linux"])
    b = emulator.enqueue_job("acme", "web", ["linux", "gpu"])
    with emulator.world.lock:  # a run with one job running and one still queued
        run = emulator.world.jobs[a].run_id
        c = emulator.world.enqueue_job("acme", "app", ["linux"], run_id=run)
    jit = client.generate_jit_config("acme", "app", name="taker", labels=["linux"])
    session = emulator_runner.connect(jit.encoded_jit_config)
    taken = session.poll_job()
    assert taken is not None and taken["id"] == a
    found = client.list_queued_jobs()
    assert [(j.id, j.repository, j.labels) for j in found] == [
        (b, "acme/web", ["linux", "gpu"]),
        (c, "acme/app", ["linux"]),
    ]
    client.reset_stats()
    assert client.list_queued_jobs() == found
    assert client.stats().calls == {}  # all 304
    assert client.list_queued_jobs(["acme/web"]) == [found[0]]
    session.complete_job()
    with pytest.raises(ValueError, match="owner/name"):
        client.list_queued_jobs(["acme"])


def test_runner_group_resolved_by_name(client: GitHubClient, emulator: GitHubEmulator) -> None:
    gid = emulator.add_runner_group("acme", "builders")
    assert client.resolve_runner_group("acme", "Default") == 1
    assert client.resolve_runner_group("acme", "builders") == gid
    jit = client.generate_jit_config("acme", None, name="g", labels=["x"], runner_group="builders")
    assert jit.runner.runner_group_id == gid
    calls = client.stats().calls["GET /orgs/{org}/actions/runner-groups"]
    client.generate_jit_config("acme", None, name="g2", labels=["x"], runner_group="builders")
    assert client.stats().calls["GET /orgs/{org}/actions/runner-groups"] == calls  # cached
    with pytest.raises(RunnerGroupNotFound, match=r"'nope'.*'Default', 'builders'"):
        client.resolve_runner_group("acme", "nope")
    with pytest.raises(RunnerGroupNotFound, match="only for organizations"):
        client.resolve_runner_group("acme", "builders", repo="app")
    assert client.resolve_runner_group("acme", "Default", repo="app") == 1
