"""GitHubClient against the emulator: auth, runners, tokens, JIT, labels, jobs, pagination."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import httpx
import jwt
import pytest
from github_fakes import FakeClock, MakeClient

from runnerfleet.github import emulator_runner
from runnerfleet.github.auth import AppAuth, TokenAuth, app_jwt
from runnerfleet.github.client import API_VERSION, GitHubClient
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.emulator.rest import RestApi
from runnerfleet.github.emulator.state import RunnerRec
from runnerfleet.github.errors import AuthError, NotFoundError, OwnerKindError

TOKEN_PATH = "POST /app/installations/{installation_id}/access_tokens"


def test_app_jwt_claims(emulator: GitHubEmulator, clock: FakeClock) -> None:
    auth = AppAuth(emulator.app_id, emulator.app_private_key_pem)
    token = app_jwt(auth, clock())
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == emulator.app_id
    assert claims["iat"] == int(clock()) - 60
    assert 0 < claims["exp"] - clock() <= 600
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_app_token_fetched_once_per_hour(
    client: GitHubClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    for _ in range(5):
        client.list_runners("acme")
    clock.advance(30 * 60)
    client.list_runners("acme")
    clock.advance(28 * 60)  # 58 min: still more than a minute of validity left
    client.list_runners("acme")
    counts = emulator.call_counts()
    assert counts[TOKEN_PATH] == 1
    assert counts["GET /orgs/{org}/installation"] == 1  # installation lookup cached too
    clock.advance(61)  # 59:01 -> within the last minute: refresh
    client.list_runners("acme")
    assert emulator.call_counts()[TOKEN_PATH] == 2
    assert emulator.call_counts()["GET /orgs/{org}/actions/runners"] == 8


def test_installation_found_for_repo_and_user(
    make_client: MakeClient, emulator: GitHubEmulator
) -> None:
    emulator.add_installation("octo-user", account_type="User")
    client = make_client()
    assert client.list_runners("octo-user", "dotfiles") == []
    with pytest.raises(OwnerKindError, match=r"user account.*no runners for user accounts"):
        client.list_runners("octo-user")  # GitHub has no user-level runners
    assert "GET /users/{username}/installation" in emulator.call_counts()
    assert client.list_runners("acme", "app") == []
    assert "GET /repos/{owner}/{repo}/installation" in emulator.call_counts()


def test_one_installation_lookup_for_an_organization_and_its_repositories(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    client.list_runners("acme")
    client.list_runners("acme", "app")
    client.list_workflow_runs("acme", "app", "queued")
    client.list_runners("acme", "lib")
    counts = emulator.call_counts()
    assert counts["GET /orgs/{org}/installation"] == 1
    assert "GET /repos/{owner}/{repo}/installation" not in counts
    assert counts[TOKEN_PATH] == 1


def test_client_id_as_issuer(make_client: MakeClient, emulator: GitHubEmulator) -> None:
    client = make_client(AppAuth(emulator.client_id, emulator.app_private_key_pem))
    assert client.list_runners("acme") == []
    stranger = make_client(AppAuth("999", emulator.app_private_key_pem))
    with pytest.raises(AuthError, match="Issuer"):
        stranger.list_runners("acme")


def test_fixed_installation_id_skips_lookup(
    make_client: MakeClient, emulator: GitHubEmulator
) -> None:
    inst = emulator.add_installation("acme")
    client = make_client(AppAuth(emulator.app_id, emulator.app_private_key_pem, inst))
    client.list_runners("acme")
    assert "GET /orgs/{org}/installation" not in emulator.call_counts()


def test_wrong_app_key_is_rejected(make_client: MakeClient, emulator: GitHubEmulator) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    client = make_client(AppAuth(emulator.app_id, pem))
    with pytest.raises(AuthError) as err:
        client.list_runners("acme")
    assert err.value.status == 401
    assert "PRIVATE KEY" not in str(err.value)


def test_personal_access_token(make_client: MakeClient, emulator: GitHubEmulator) -> None:
    client = make_client(TokenAuth(emulator.pat))
    client.generate_jit_config("acme", "app", name="pat-runner", labels=["linux"])
    assert [r.name for r in client.list_runners("acme", "app")] == ["pat-runner"]
    with pytest.raises(AuthError):
        client.list_installation_repositories()  # needs an installation token
    bad = make_client(TokenAuth("ghp_" + "x" * 36))
    with pytest.raises(AuthError) as err:
        bad.list_runners("acme")
    assert err.value.status == 401
    assert [s for _, _, s in emulator.request_log].count(401) == 1  # no pointless retry


def test_runner_lifecycle(client: GitHubClient, emulator: GitHubEmulator) -> None:
    jit = client.generate_jit_config("acme", None, name="r-1", labels=["linux", "x64"])
    assert jit.runner.name == "r-1" and jit.runner.status == "offline"
    assert jit.runner.labels == ["self-hosted", "linux", "x64"]
    got = client.get_runner("acme", None, jit.runner.id)
    assert got is not None and got.id == jit.runner.id
    assert client.find_runner("acme", None, "r-1") == got
    assert client.find_runner("acme", None, "nope") is None
    client.delete_runner("acme", None, jit.runner.id)
    assert client.get_runner("acme", None, jit.runner.id) is None
    client.delete_runner("acme", None, jit.runner.id)  # 404: already gone, fine


def test_tokens_labels_groups(client: GitHubClient) -> None:
    reg = client.create_registration_token("acme")
    rem = client.create_remove_token("acme", "app")
    assert reg.token and rem.token and reg.expires_at.year >= 2027
    assert reg.token not in repr(reg)
    jit = client.generate_jit_config("acme", None, name="lbl", labels=["a"])
    rid = jit.runner.id
    assert client.add_runner_labels("acme", None, rid, ["b"]) == ["self-hosted", "a", "b"]
    assert client.set_runner_labels("acme", None, rid, ["c"]) == ["self-hosted", "c"]
    assert client.remove_runner_label("acme", None, rid, "c") == ["self-hosted"]
    assert client.list_runner_labels("acme", None, rid) == ["self-hosted"]
    groups = client.list_runner_groups("acme")
    assert [(g.id, g.name, g.default) for g in groups] == [(1, "Default", True)]
    assert jit.encoded_jit_config not in repr(jit)


def test_installation_repositories(make_client: MakeClient, emulator: GitHubEmulator) -> None:
    inst = emulator.add_installation("acme")
    emulator.enqueue_job("acme", "app", ["linux"])
    emulator.enqueue_job("acme", "lib", ["linux"])
    client = make_client(AppAuth(emulator.app_id, emulator.app_private_key_pem, inst))
    names = ["acme/app", "acme/lib"]
    assert [r.full_name for r in client.list_installation_repositories()] == names
    sole = make_client()  # no installation id: the App's only installation is used
    assert [r.full_name for r in sole.list_installation_repositories()] == names
    emulator.add_installation("globex")
    ambiguous = make_client()
    with pytest.raises(AuthError, match="acme, globex"):
        ambiguous.list_installation_repositories()


def test_concurrent_callers_share_one_token(
    make_client: MakeClient, emulator: GitHubEmulator
) -> None:
    client = make_client()
    client.list_runners("acme")  # installation lookup done; token cached
    with emulator.world.lock:
        emulator.world.tokens.clear()
    client._tokens.clear()  # force a refresh, raced by eight threads
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.list_runner_groups("acme"), range(8)))
    assert all(len(r) == 1 for r in results)
    assert emulator.call_counts()[TOKEN_PATH] == 2


def test_env_switch_validates_clients_without_a_transport(
    monkeypatch: pytest.MonkeyPatch, emulator: GitHubEmulator
) -> None:
    from runnerfleet.github.spec import ValidatingTransport

    monkeypatch.setenv("RFLEET_GITHUB_SPEC_VALIDATE", "1")
    with GitHubClient(emulator.url, TokenAuth(emulator.pat)) as client:
        assert isinstance(client._http._transport, ValidatingTransport)
        client.list_runners("acme")
        assert client._http._transport.checked == 1
    monkeypatch.delenv("RFLEET_GITHUB_SPEC_VALIDATE")
    with GitHubClient(emulator.url, TokenAuth(emulator.pat)) as client:
        assert not isinstance(client._http._transport, ValidatingTransport)


def test_workflow_runs_and_jobs(client: GitHubClient, emulator: GitHubEmulator) -> None:
    job_id = emulator.enqueue_job("acme", "app", ["self-hosted", "linux"])
    runs = client.list_workflow_runs("acme", "app", "queued")
    assert len(runs) == 1 and runs[0].repository == "acme/app"
    jobs = client.list_run_jobs("acme", "app", runs[0].id)
    assert [j.id for j in jobs] == [job_id]
    assert jobs[0].labels == ["self-hosted", "linux"] and jobs[0].status == "queued"

    jit = client.generate_jit_config("acme", None, name="worker", labels=["linux"])
    session = emulator_runner.connect(jit.encoded_jit_config)
    assert session.poll_job() is not None
    job = client.get_job("acme", "app", job_id)
    assert (job.status, job.runner_name) == ("in_progress", "worker")
    assert client.list_workflow_runs("acme", "app", "queued") == []
    session.complete_job("success")
    job = client.get_job("acme", "app", job_id)
    assert (job.status, job.conclusion) == ("completed", "success")
    assert [r.status for r in client.list_workflow_runs("acme", "app", "success")] == ["completed"]
    with pytest.raises(NotFoundError):
        client.get_job("acme", "app", 1)


def test_pagination_over_250_runners(
    client: GitHubClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    with emulator.world.lock:
        for i in range(260):
            emulator.world.create_runner("acme", None, f"r-{i:03d}", ["linux"], ephemeral=True)
    made: list[int] = []
    body = RestApi.runner_body

    def counted(self: RestApi, rec: RunnerRec) -> dict[str, Any]:
        made.append(rec.id)
        return body(self, rec)

    with mock.patch.object(RestApi, "runner_body", counted):
        runners = client.list_runners("acme")
    assert len(runners) == 260
    assert len({r.id for r in runners}) == 260
    assert emulator.call_counts()["GET /orgs/{org}/actions/runners"] == 3  # 100 + 100 + 60
    assert sorted(made) == sorted(r.id for r in runners)  # each page renders its own only
    assert client.list_runners("acme") == runners  # again: three 304s, pages from the cache
    assert [s for _, _, s in emulator.request_log[-3:]] == [304, 304, 304]


def test_etag_304_reuses_cache_and_costs_no_rate_limit(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    client.generate_jit_config("acme", None, name="e1", labels=["linux"])
    first = client.list_runners("acme")
    remaining = [s for m, t, s in emulator.request_log]
    second = client.list_runners("acme")
    assert first == second
    assert emulator.request_log[-1] == ("GET", "/orgs/{org}/actions/runners", 304)
    assert len(remaining) + 1 == len(emulator.request_log)
    bucket = next(b for k, b in emulator._buckets.items() if k.startswith("installation"))
    used = bucket.used
    client.list_runners("acme")
    assert bucket.used == used  # the 304 cost nothing
    client.generate_jit_config("acme", None, name="e2", labels=["linux"])
    assert len(client.list_runners("acme")) == 2  # changed list: 200, fresh body


def _mock_client(
    handler: Callable[[httpx.Request], httpx.Response], url: str = "https://ghe.example.com/api/v3"
) -> GitHubClient:
    transport = httpx.MockTransport(handler)
    return GitHubClient(url, TokenAuth("ghp_" + "a" * 36), transport=transport, timeout=3.0)


def test_ghes_base_url_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"total_count": 0, "runners": []})

    client = _mock_client(handler)
    assert client.list_runners("acme", "app") == []
    req = seen[0]
    assert str(req.url).startswith("https://ghe.example.com/api/v3/repos/acme/app/actions/runners")
    assert req.headers["x-github-api-version"] == API_VERSION == "2022-11-28"
    assert req.headers["accept"] == "application/vnd.github+json"
    assert req.extensions["timeout"] == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}


def test_secrets_stay_out_of_reprs_and_errors(
    emulator: GitHubEmulator, client: GitHubClient
) -> None:
    auth = AppAuth(emulator.app_id, emulator.app_private_key_pem)
    assert "PRIVATE" not in repr(auth)
    token = TokenAuth(emulator.pat)
    assert emulator.pat not in repr(token)
    assert emulator.pat not in repr(client)
    with pytest.raises(NotFoundError) as err:
        client.list_runners("no-such-org")
    assert emulator.pat not in str(err.value)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="api_url"):
        GitHubClient("api.github.com", TokenAuth("t"))
    with pytest.raises(ValueError, match="private_key_pem"):
        AppAuth("1", "not a key")
    with pytest.raises(ValueError, match="token"):
        TokenAuth(" ")
    broken = AppAuth("1", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----")
    with pytest.raises(ValueError, match="could not be loaded"):
        app_jwt(broken, 0.0)
    client = _mock_client(lambda r: httpx.Response(500))
    with pytest.raises(ValueError, match="owner"):
        client.list_runners("acme/app")
    with pytest.raises(ValueError, match="labels"):
        client.generate_jit_config("acme", None, name="x", labels=[])


def test_error_message_from_body() -> None:
    client = _mock_client(
        lambda r: httpx.Response(422, json={"message": "Validation Failed", "errors": []})
    )
    with pytest.raises(Exception) as err:
        client.create_registration_token("acme")
    assert "422" in str(err.value) and "Validation Failed" in str(err.value)
    assert json.loads('{"a": 1}') == {"a": 1}


def test_logs_carry_no_secrets(
    client: GitHubClient,
    emulator: GitHubEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.inject("/orgs/acme/actions/runners/generate-jitconfig", "5xx", phase="after")
    emulator.inject("/orgs/acme/actions/runners", "secondary_rate_limit", retry_after=1)
    jit = client.generate_jit_config("acme", None, name="quiet", labels=["linux"])
    reg = client.create_registration_token("acme")
    session = emulator_runner.connect(jit.encoded_jit_config)
    session.disconnect()
    secrets = [emulator.pat, jit.encoded_jit_config, reg.token, *emulator.world.tokens]
    assert "retrying" in caplog.text  # the faults were logged...
    for secret in secrets:
        assert secret not in caplog.text  # ...without any credential
    assert "PRIVATE KEY" not in caplog.text and "eyJ" not in caplog.text


def test_mutations_are_serial() -> None:
    import threading
    import time

    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        if request.method == "GET":
            return httpx.Response(200, json={"total_count": 0, "runners": []})
        return httpx.Response(201, json={"token": "t", "expires_at": "2027-01-15T10:00:00Z"})

    client = _mock_client(handler)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: client.create_registration_token("acme"), range(6)))
    assert peak == 1
    peak = 0
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: client.list_runners("acme"), range(6)))
    assert peak > 1  # reads are not serialised
