"""The real agent against the AWS emulator (moto server), the GitHub emulator, a loopback IMDSv2
and the stand-in runner: happy paths, late and consumed registrations, GitHub 5xx during start,
spot interruption, ephemeral self-termination, and no secret in any log line."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hosts_support import OWNER, REPO, FakeImds, FaultProxy, launch_runners

from runnerfleet.agent import standin
from runnerfleet.agent.agent import Agent
from runnerfleet.agent.decisions import Backoff, State
from runnerfleet.agent.imds import ImdsClient
from runnerfleet.agent.launcher import SubprocessLauncher
from runnerfleet.agent.settings import AgentSettings
from runnerfleet.controlplane.registrar import Registrar
from runnerfleet.github.emulator import GitHubEmulator


class Host:
    """One host: an agent running in a thread, its IMDS, and its files."""

    def __init__(
        self,
        aws: Callable[[str], Any],
        hostdir: Path,
        fleet: str,
        instance_id: str,
        *,
        ephemeral: bool = False,
        registration_timeout: float = 30.0,
    ) -> None:
        self.instance_id = instance_id
        self.dir = hostdir / instance_id
        self.runner_dir = self.dir / "actions-runner"
        standin.install(self.runner_dir)
        self.imds = FakeImds(instance_id)
        self.settings = AgentSettings(
            name=fleet,
            region="us-east-1",
            registration_parameter_prefix=f"/{fleet}/runners",
            runner_dir=self.runner_dir,
            ephemeral=ephemeral,
            runner_user=None,
            status_dir=self.dir / "status",
            state_file=self.dir / "agent-state.json",
            poll_interval=0.1,
            registration_timeout=registration_timeout,
            online_grace=60.0,
            drain_grace=10.0,
            config_timeout=30.0,
            start_backoff=Backoff(base=0.1, cap=0.5, attempts=5),
            wait_backoff=Backoff(base=0.1, cap=0.3, attempts=0),
        )
        self.aws = aws
        self.agent: Agent | None = None
        self.final: State | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()

    def start(self) -> Host:
        self.agent = Agent(
            settings=self.settings,
            ssm=self.aws("ssm"),
            ec2=self.aws("ec2"),
            autoscaling=self.aws("autoscaling"),
            imds=ImdsClient(self.imds.url),
            launcher=SubprocessLauncher(self.runner_dir),
        )
        self._done.clear()

        def run() -> None:
            assert self.agent is not None
            try:
                self.final = self.agent.run()
            except BaseException as exc:
                self.error = exc
            finally:
                self._done.set()

        threading.Thread(target=run, daemon=True).start()
        return self

    def wait_for(self, state: State, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.agent is not None
            if state.value in self.agent.health.history:
                return
            if self._done.is_set() and state.value not in self.agent.health.history:
                raise AssertionError(f"agent ended in {self.final} ({self.error}) before {state}")
            time.sleep(0.05)
        assert self.agent is not None
        raise AssertionError(f"no {state} within {timeout} s: {self.agent.health.history}")

    def wait_done(self, timeout: float = 30.0) -> State | None:
        assert self._done.wait(timeout), "agent did not finish"
        if self.error is not None:
            raise self.error
        return self.final

    def stop(self) -> None:
        if self.agent is not None and not self._done.is_set():
            self.agent.stop_event.set()
            self._done.wait(15)
        self.imds.close()

    def status(self) -> dict[str, Any]:
        return dict(json.loads((self.dir / "status" / "status.json").read_text()))


@pytest.fixture
def hosts(aws: Callable[[str], Any], hostdir: Path, fleet: str) -> Iterator[Callable[..., Host]]:
    made: list[Host] = []

    def make(instance_id: str, **kw: Any) -> Host:
        host = Host(aws, hostdir, fleet, instance_id, **kw)
        made.append(host)
        return host

    yield make
    for host in made:
        host.stop()


def _instance_state(ec2: Any, iid: str) -> str:
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return str(inst["State"]["Name"])


def _tags(ec2: Any, iid: str) -> dict[str, str]:
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in inst.get("Tags", [])}


def _param_value(ssm: Any, fleet: str, iid: str) -> str:
    resp = ssm.get_parameter(Name=f"/{fleet}/runners/{iid}", WithDecryption=True)
    return str(resp["Parameter"]["Value"])


def _assert_not_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    text = caplog.text + "\n".join(str(r.msg) for r in caplog.records)
    assert caplog.records, "nothing was logged at all"
    for secret in secrets:
        assert secret and secret not in text


def test_happy_path_persistent_runner_registers_and_goes_online(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    ec2, ssm = aws("ec2"), aws("ssm")
    [iid] = launch_runners(ec2, fleet, 1)
    assert make_registrar(fleet).run_once().ok
    secret = json.loads(_param_value(ssm, fleet, iid))["secret"]

    host = hosts(iid).start()
    host.wait_for(State.ONLINE)

    [runner] = emulator.runners(OWNER, REPO)
    assert (runner.name, runner.status) == (f"{fleet}-runner-01", "online")
    # The status file and the tag are written just after the state changes: poll briefly.
    deadline = time.monotonic() + 10
    while host.status()["state"] != "online" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host.status()["state"] == "online"
    assert _tags(ec2, iid)["runnerfleet:agent-state"] == "online"
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        _param_value(ssm, fleet, iid)
    # the runner got its token from the environment: the stand-in refuses argv tokens and
    # the launcher refuses any argv that contains a secret
    assert (host.runner_dir / ".runner").is_file()
    _assert_not_logged(agent_logs, secret)


def test_ephemeral_runner_takes_one_job_then_terminates_its_instance(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    ec2, ssm = aws("ec2"), aws("ssm")
    [iid] = launch_runners(ec2, fleet, 1)
    assert make_registrar(fleet, ephemeral=True).run_once().ok
    reg = json.loads(_param_value(ssm, fleet, iid))
    assert reg["kind"] == "jit"

    host = hosts(iid, ephemeral=True).start()
    host.wait_for(State.ONLINE)
    job_id = emulator.enqueue_job(OWNER, REPO, ["self-hosted", "linux"])
    assert host.wait_done() is State.DONE

    assert emulator.job(job_id)["conclusion"] == "success"
    assert _instance_state(ec2, iid) in ("shutting-down", "terminated")
    assert host.status()["state"] == "done"
    _assert_not_logged(agent_logs, reg["secret"])


def test_parameter_missing_then_appearing(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    [iid] = launch_runners(aws("ec2"), fleet, 1)
    host = hosts(iid).start()
    host.wait_for(State.WAITING)
    deadline = time.monotonic() + 10
    while "not readable yet" not in agent_logs.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "not readable yet" in agent_logs.text
    assert State.REGISTERING.value not in host.agent.health.history  # type: ignore[union-attr]

    assert make_registrar(fleet).run_once().ok
    host.wait_for(State.ONLINE)
    assert [r.status for r in emulator.runners(OWNER, REPO)] == ["online"]


def test_consumed_parameter_persistent_restart_runs_configured_runner(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    [iid] = launch_runners(aws("ec2"), fleet, 1)
    registrar = make_registrar(fleet)
    assert registrar.run_once().ok
    first = hosts(iid).start()
    first.wait_for(State.ONLINE)
    first.stop()  # like `systemctl restart runnerfleet-agent`

    # the parameter is gone; the registrar does not issue a second one for this instance
    assert [o.action for o in registrar.run_once().outcomes] == []
    second = hosts(iid, registration_timeout=5.0).start()
    second.wait_for(State.ONLINE, timeout=20)
    assert "already consumed by this host" in agent_logs.text
    runners = emulator.runners(OWNER, REPO)
    assert [(r.name, r.status) for r in runners] == [(f"{fleet}-runner-01", "online")]


def test_consumed_parameter_ephemeral_host_replaces_itself(
    aws: Callable[[str], Any],
    hosts: Callable[..., Host],
    fleet: str,
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    ec2 = aws("ec2")
    [iid] = launch_runners(ec2, fleet, 1)
    host = hosts(iid, ephemeral=True)
    host.settings.state_file.parent.mkdir(parents=True, exist_ok=True)
    host.settings.state_file.write_text(
        json.dumps({"consumed": f"/{fleet}/runners/{iid}", "kind": "jit", "runner_name": "x"})
    )
    host.start()
    assert host.wait_done(timeout=20) is State.FAILED
    assert "already consumed by this host" in agent_logs.text
    assert _instance_state(ec2, iid) in ("shutting-down", "terminated")


def test_github_5xx_during_start_is_retried_with_backoff(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    proxy = FaultProxy(emulator.url, "/_emulator/runner/register", failures=2)
    try:
        [iid] = launch_runners(aws("ec2"), fleet, 1)
        registrar = make_registrar(fleet)
        registrar.settings = replace(registrar.settings, github_url=proxy.url)
        assert registrar.run_once().ok
        host = hosts(iid).start()
        host.wait_for(State.ONLINE, timeout=40)
    finally:
        proxy.close()
    assert proxy.failed == 2
    assert agent_logs.text.count("config.sh exited 1; retry") == 2
    assert [r.status for r in emulator.runners(OWNER, REPO)] == ["online"]


def test_spot_interruption_notice_drains_the_runner(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    ec2 = aws("ec2")
    [iid] = launch_runners(ec2, fleet, 1)
    assert make_registrar(fleet, ephemeral=True).run_once().ok
    host = hosts(iid, ephemeral=True).start()
    host.wait_for(State.ONLINE)

    host.imds.spot = "terminate"
    assert host.wait_done(timeout=20) is State.DRAINING
    assert "interruption notice (spot=terminate" in agent_logs.text
    assert [r.status for r in emulator.runners(OWNER, REPO)] == ["offline"]
    assert host.status()["state"] == "draining"
    assert _tags(ec2, iid)["runnerfleet:agent-state"] == "draining"
    # draining leaves the instance to the spot service; the agent does not terminate it
    assert _instance_state(ec2, iid) == "running"
    assert host.imds.unauthorized == 0  # every IMDS read carried the IMDSv2 session token


def test_no_secret_reaches_any_log_line_even_on_errors(
    aws: Callable[[str], Any],
    hosts: Callable[..., Host],
    fleet: str,
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    """A registration the agent cannot use is reported without echoing its secret."""
    ssm = aws("ssm")
    [iid] = launch_runners(aws("ec2"), fleet, 1)
    secret = "ghs_" + "S3cr3tT0ken" * 4
    bad = json.dumps({"kind": "bogus", "runner_name": "x", "secret": secret})
    ssm.put_parameter(Name=f"/{fleet}/runners/{iid}", Value=bad, Type="SecureString")
    host = hosts(iid).start()
    with pytest.raises(Exception, match="neither 'jit' nor 'token'"):
        host.wait_done(timeout=20)
    logging.getLogger("runnerfleet.agent.agent").error("echo %s", secret)
    _assert_not_logged(agent_logs, secret, "S3cr3tT0ken")
