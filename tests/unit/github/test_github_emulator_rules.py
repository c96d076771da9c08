"""GitHub's rules the emulator enforces (each test fails if its rule is taken out):
realistic JIT configs, runner groups that must exist, no org endpoints for user accounts,
the 24-hour queue limit and the 60-second offer (test_github_emulator.py), on the
emulator's compressible clock."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from github_fakes import FakeClock

from runnerfleet.github import emulator_runner
from runnerfleet.github.client import GitHubClient
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.errors import NotFoundError, OwnerKindError

SSM_STANDARD_LIMIT = 4096
DAY = 24 * 3600  # GitHub cancels self-hosted jobs queued for 24 h (usage limits)


def test_jit_config_is_realistic(client: GitHubClient) -> None:
    """GitHub's encoded_jit_config: base64 of a JSON object holding the runner's config
    files `.runner`, `.credentials` and `.credentials_rsaparams`, each base64 JSON; over
    4 KB today (so it does not fit an SSM Standard parameter)."""
    jit = client.generate_jit_config("acme", None, name="big", labels=["linux"])
    assert len(jit.encoded_jit_config) > SSM_STANDARD_LIMIT
    files = json.loads(base64.b64decode(jit.encoded_jit_config, validate=True))
    runner = json.loads(base64.b64decode(files[".runner"]))
    creds = json.loads(base64.b64decode(files[".credentials"]))
    rsa = json.loads(base64.b64decode(files[".credentials_rsaparams"]))
    assert runner["AgentName"] == "big" and runner["AgentId"] == jit.runner.id
    assert runner["Ephemeral"] == "True" and runner["PoolId"] == 1
    assert creds["Scheme"] == "OAuth" and creds["Data"]["clientId"]
    assert set(rsa) == {"d", "dp", "dq", "exponent", "inverseQ", "modulus", "p", "q"}
    assert len(base64.b64decode(rsa["modulus"])) == 256  # a 2048-bit key
    emulator_runner.connect(jit.encoded_jit_config).disconnect()


def test_runner_group_must_exist(client: GitHubClient, emulator: GitHubEmulator) -> None:
    with pytest.raises(NotFoundError) as err:
        client.generate_jit_config("acme", None, name="g", labels=["x"], runner_group_id=99)
    assert err.value.status == 404
    assert emulator.runners("acme") == []  # nothing registered
    gid = emulator.add_runner_group("acme", "builders")
    jit = client.generate_jit_config("acme", None, name="g", labels=["x"], runner_group_id=gid)
    assert jit.runner.runner_group_id == gid
    with pytest.raises(NotFoundError):  # repository runners have only the default group
        client.generate_jit_config("acme", "app", name="g2", labels=["x"], runner_group_id=gid)


def test_runner_group_id_must_be_an_integer() -> None:
    # The request breaks GitHub's description on purpose: an emulator that does not
    # validate requests, answering as GitHub does.
    with GitHubEmulator(validate=False) as emulator:
        emulator.add_installation("acme")
        body = {"name": "r", "labels": ["x"], "runner_group_id": "1"}
        resp = httpx.post(
            f"{emulator.url}/orgs/acme/actions/runners/generate-jitconfig",
            json=body,
            headers={"Authorization": f"Bearer {emulator.pat}"},
            timeout=10,
        )
        assert resp.status_code == 422
        assert "runner_group_id" in resp.json()["message"]
        assert emulator.runners("acme") == []


def test_user_account_has_no_org_endpoints(emulator: GitHubEmulator) -> None:
    emulator.add_installation("octo-user", account_type="User")
    resp = httpx.get(
        f"{emulator.url}/orgs/octo-user/actions/runners",
        headers={"Authorization": f"Bearer {emulator.pat}"},
        timeout=10,
    )
    assert resp.status_code == 404


def test_user_owner_gets_a_clear_error(client: GitHubClient, emulator: GitHubEmulator) -> None:
    emulator.add_installation("octo-user", account_type="User")
    with pytest.raises(OwnerKindError, match="GitHub has no runners for user accounts"):
        client.check_owner("octo-user", None)
    assert client.check_owner("octo-user", "dotfiles") == "User"
    assert client.check_owner("acme", None) == "Organization"


def test_queued_job_is_cancelled_after_24_hours(
    client: GitHubClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    job_id = emulator.enqueue_job("acme", "app", ["linux"])
    clock.advance(DAY - 1)
    assert client.get_job("acme", "app", job_id).status == "queued"
    clock.advance(2)
    job = client.get_job("acme", "app", job_id)
    assert (job.status, job.conclusion) == ("completed", "cancelled")
    late = client.generate_jit_config("acme", "app", name="late", labels=["linux"])
    assert emulator_runner.connect(late.encoded_jit_config).poll_job() is None
    actions = [d.summary()["action"] for d in emulator.deliveries.values()]
    assert actions == ["queued", "completed"]  # GitHub announces the cancellation


def test_offered_job_cancelled_at_24_hours_frees_the_runner(
    client: GitHubClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    emulator.enqueue_job("acme", "app", ["linux"])
    clock.advance(DAY - 30)
    jit = client.generate_jit_config("acme", "app", name="slow", labels=["linux"])
    session = emulator_runner.connect(jit.encoded_jit_config)
    assert session.poll_job(accept=False) is not None
    clock.advance(31)
    assert session.poll_job() is None
    assert [r.busy for r in emulator.runners("acme", "app")] == [False]
