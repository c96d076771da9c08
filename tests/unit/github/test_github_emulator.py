"""The emulator's own behaviour: job queue, runner states, JIT single use, webhooks, control."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from github_fakes import BOTH_KINDS, FakeClock, HookReceiver, MakeClient

from runnerfleet.github import emulator_runner
from runnerfleet.github.client import GitHubClient
from runnerfleet.github.emulator import EmulatorControl, GitHubEmulator
from runnerfleet.github.emulator.hooks import sign
from runnerfleet.github.emulator_runner import RunnerProtocolError
from runnerfleet.github.webhooks import parse_workflow_job, verify_signature


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    r = HookReceiver()
    yield r
    r.stop()


@pytest.fixture
def hooked(clock: FakeClock, receiver: HookReceiver) -> Iterator[GitHubEmulator]:
    emu = GitHubEmulator(
        clock=clock, validate=True, webhook_url=receiver.url, webhook_secret="s3cret"
    )
    emu.start()
    emu.add_installation("acme", permissions=BOTH_KINDS)
    yield emu
    emu.stop()
    assert emu.spec_violations == [], "\n".join(emu.spec_violations)


def _session(client: GitHubClient, name: str, labels: list[str]) -> emulator_runner.RunnerSession:
    jit = client.generate_jit_config("acme", None, name=name, labels=labels)
    return emulator_runner.connect(jit.encoded_jit_config)


def test_jit_config_is_single_use_and_points_at_emulator(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    jit = client.generate_jit_config("acme", None, name="one", labels=["linux"])
    decoded = json.loads(base64.b64decode(jit.encoded_jit_config))
    assert decoded["url"] == emulator.url and decoded["runner_name"] == "one"
    session = emulator_runner.connect(jit.encoded_jit_config)
    assert [r.status for r in emulator.runners("acme")] == ["online"]
    with pytest.raises(RunnerProtocolError) as err:
        emulator_runner.connect(jit.encoded_jit_config)
    assert err.value.status == 401 and "already been used" in str(err.value)
    session.disconnect()
    assert [r.status for r in emulator.runners("acme")] == ["offline"]
    with pytest.raises(ValueError, match="JIT config"):
        emulator_runner.connect("not base64!")


def test_label_matching_and_ephemeral_removal(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    gpu = _session(client, "gpu", ["linux", "gpu"])
    cpu = _session(client, "cpu", ["linux"])
    job = emulator.enqueue_job("acme", "app", ["self-hosted", "Linux", "gpu"])
    assert cpu.poll_job() is None  # labels do not match
    taken = gpu.poll_job()
    assert taken is not None and taken["id"] == job and taken["runner_name"] == "gpu"
    assert {r.name: r.busy for r in emulator.runners("acme")} == {"gpu": True, "cpu": False}
    gpu.complete_job("failure")
    assert [r.name for r in emulator.runners("acme")] == ["cpu"]  # ephemeral: removed
    assert emulator.job(job)["conclusion"] == "failure"
    gpu.disconnect()  # already removed: harmless


def test_repo_runner_only_sees_its_repo(client: GitHubClient, emulator: GitHubEmulator) -> None:
    jit = client.generate_jit_config("acme", "app", name="repo-runner", labels=["linux"])
    session = emulator_runner.connect(jit.encoded_jit_config)
    emulator.enqueue_job("acme", "other", ["linux"])
    assert session.poll_job() is None
    mine = emulator.enqueue_job("acme", "app", ["linux"])
    polled = session.poll_job()
    assert polled is not None and polled["id"] == mine


def test_unstarted_offer_is_requeued_after_60s(
    client: GitHubClient, emulator: GitHubEmulator, clock: FakeClock
) -> None:
    slow = _session(client, "slow", ["linux"])
    fast = _session(client, "fast", ["linux"])
    job = emulator.enqueue_job("acme", "app", ["linux"])
    offered = slow.poll_job(accept=False)
    assert offered is not None and offered["status"] == "queued"
    assert fast.poll_job() is None
    clock.advance(61)
    taken = fast.poll_job()
    assert taken is not None and taken["id"] == job and taken["runner_name"] == "fast"


def test_registration_token_runner_is_persistent(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    reg = client.create_registration_token("acme")
    session = emulator_runner.connect_with_registration_token(
        emulator.url, "acme", None, reg.token, "persistent-1", ["linux"]
    )
    for _ in range(2):
        emulator.enqueue_job("acme", "app", ["linux"])
        assert session.poll_job() is not None
        session.complete_job()
    assert [r.name for r in emulator.runners("acme")] == ["persistent-1"]
    with pytest.raises(RunnerProtocolError):
        emulator_runner.connect_with_registration_token(
            emulator.url, "acme", None, "bogus", "p2", ["linux"]
        )
    emulator.set_runner_offline(session.runner.id)
    assert [r.status for r in emulator.runners("acme")] == ["offline"]


def test_duplicate_name_is_409(client: GitHubClient, emulator: GitHubEmulator) -> None:
    from runnerfleet.github.errors import RunnerNameConflict

    s = _session(client, "dup", ["linux"])
    with pytest.raises(RunnerNameConflict):
        client.generate_jit_config("acme", None, name="dup", labels=["linux"])
    assert [r.name for r in emulator.runners("acme")] == ["dup"]
    s.disconnect()


def test_webhooks_signed_and_redelivered(
    make_client: MakeClient, hooked: GitHubEmulator, receiver: HookReceiver
) -> None:
    import httpx

    from runnerfleet.github.client import AppAuth, GitHubClient

    client = GitHubClient(
        hooked.url, AppAuth(hooked.app_id, hooked.app_private_key_pem), clock=hooked.clock
    )
    job = hooked.enqueue_job("acme", "app", ["linux"])
    session = emulator_runner.connect(
        client.generate_jit_config("acme", None, name="w", labels=["linux"]).encoded_jit_config
    )
    session.poll_job()
    session.complete_job("success")
    hooked.flush_webhooks()
    assert len(receiver.received) == 3
    actions = []
    for headers, body in receiver.received:
        lower = {k.lower(): v for k, v in headers.items()}
        assert lower["x-github-event"] == "workflow_job"
        assert lower["x-hub-signature-256"] == sign("s3cret", body)
        assert verify_signature("s3cret", body, lower["x-hub-signature-256"])
        event = parse_workflow_job(body)
        assert event.job_id == job and event.repository == "acme/app"
        actions.append(event.action)
    assert actions == ["queued", "in_progress", "completed"]
    first_id = {k.lower(): v for k, v in receiver.received[0][0].items()}["x-github-delivery"]
    hooked.redeliver(first_id)
    hooked.flush_webhooks()
    again = {k.lower(): v for k, v in receiver.received[-1][0].items()}
    assert again["x-github-delivery"] == first_id
    assert receiver.received[-1][1] == receiver.received[0][1]
    assert [d.status for d in hooked.deliveries.values()] == [200, 200, 200]
    client.close()
    assert httpx is not None


def test_control_surface(emulator: GitHubEmulator, client: GitHubClient) -> None:
    with EmulatorControl(emulator.url) as ctl:
        assert ctl.info()["app_id"] == emulator.app_id
        ctl.add_installation("globex")
        job = ctl.enqueue_job("globex", "svc", ["linux"])
        assert ctl.job(job)["status"] == "queued"
        jit = client.generate_jit_config("globex", None, name="g", labels=["linux"])
        assert [r.name for r in ctl.runners("globex")] == ["g"]
        ctl.inject("/orgs/*/actions/runners", "5xx", times=1, status=503)
        assert client.list_runners("globex")[0].name == "g"  # retried once
        log = ctl.request_log()
        assert ("GET", "/orgs/{org}/actions/runners", 503) in log
        assert ctl.call_counts()["GET /orgs/{org}/actions/runners"] == 2
        ctl.set_runner_offline(jit.runner.id)
        ctl.clear_faults()
        assert ctl.deliveries()[0]["action"] == "queued"
        with pytest.raises(RuntimeError, match="422"):
            ctl.inject("/x", "bogus")


def test_only_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        GitHubEmulator(host="0.0.0.0")
