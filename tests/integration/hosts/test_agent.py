"""The real agent against the AWS emulator (moto server), the GitHub emulator, a loopback IMDSv2
and the stand-in runner: happy paths, late and consumed registrations, GitHub 5xx during start,
spot interruption, and no secret in any log line. Ephemeral lifecycles: test_lifecycles.py."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hosts_support import OWNER, REPO, FaultProxy, Host, launch_runners

from runnerfleet.agent.decisions import State
from runnerfleet.controlplane.registrar import Registrar
from runnerfleet.github.emulator import GitHubEmulator


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
    # wait_for returned once the report of ONLINE wrote the status file and the tag
    assert host.status()["state"] == "online"
    assert _tags(ec2, iid)["runnerfleet:agent-state"] == "online"
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        _param_value(ssm, fleet, iid)
    # the runner got its token from the environment: the stand-in refuses argv tokens and
    # the launcher refuses any argv that contains a secret
    assert (host.runner_dir / ".runner").is_file()
    _assert_not_logged(agent_logs, secret)


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
    second.wait_for(State.ONLINE)
    assert "already consumed by this host" in agent_logs.text
    runners = emulator.runners(OWNER, REPO)
    assert [(r.name, r.status) for r in runners] == [(f"{fleet}-runner-01", "online")]


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
        host.wait_for(State.ONLINE)
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
    assert host.wait_done(timeout=90) is State.DRAINING
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
        host.wait_done(timeout=90)
    logging.getLogger("runnerfleet.agent.agent").error("echo %s", secret)
    _assert_not_logged(agent_logs, secret, "S3cr3tT0ken")
