"""Registration format, secret-safe logging, argv guard, settings, and the IMDSv2 client."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runnerfleet.agent.imds import ImdsClient, ImdsError
from runnerfleet.agent.launcher import SecretInArgv, SubprocessLauncher, check_argv
from runnerfleet.agent.logsafe import SECRETS, logger
from runnerfleet.agent.registration import Registration, RegistrationError, parameter_name
from runnerfleet.agent.settings import AgentSettings, SettingsError


def test_registration_round_trip_hides_the_secret() -> None:
    reg = Registration("jit", "rf-runner-01", "ZW5jb2RlZA==secret", labels=("a",), runner_id=3)
    assert Registration.from_json(reg.to_json()) == reg
    assert "ZW5jb2RlZA" not in repr(reg)
    assert parameter_name("/rf/runners/", "i-1") == "/rf/runners/i-1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"kind": "x"}', "neither"),
        ('{"kind": "jit", "secret": "s"}', "runner_name"),
        ('{"kind": "jit", "runner_name": "n"}', "no secret"),
        ('{"kind": "token", "runner_name": "n", "secret": "s"}', "url"),
    ],
)
def test_bad_registrations_are_named(body: str, message: str) -> None:
    with pytest.raises(RegistrationError, match=message):
        Registration.from_json(body)


def test_log_lines_never_carry_known_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="runnerfleet")
    secret = "AXYZSECRETREGISTRATIONTOKEN42"
    SECRETS.add(secret)
    log = logger("runnerfleet.agent.test")
    log.info("token is %s", secret)
    log.warning("jitconfig=%s", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlMTIz")
    try:
        raise RuntimeError(f"config.sh failed with {secret}")
    except RuntimeError:
        log.exception("failed")
    assert len(caplog.records) == 3
    assert secret not in caplog.text
    assert "eyJhbGciOiJSUzI1NiJ9" not in caplog.text
    assert "***" in caplog.text


def test_argv_never_carries_a_secret(tmp_path: Path) -> None:
    with pytest.raises(SecretInArgv):
        check_argv(["run.sh", "--jitconfig", "abc-secret"], ["abc-secret"])
    launcher = SubprocessLauncher(tmp_path)
    with pytest.raises(SecretInArgv):
        launcher.start(["/bin/true", "--token", "tok123"], {"ACTIONS_RUNNER_INPUT_TOKEN": "tok123"})
    assert launcher.run(["/bin/sh", "-c", 'test -n "$ACTIONS_RUNNER_INPUT_TOKEN"'],
                        {"ACTIONS_RUNNER_INPUT_TOKEN": "tok123"}, timeout=10) == 0  # fmt: skip


def test_settings_from_env() -> None:
    env = {
        "RUNNERFLEET_NAME": "rf",
        "RUNNERFLEET_REGION": "eu-west-1",
        "RUNNERFLEET_REGISTRATION_PARAMETER_PREFIX": "/rf/runners",
        "RUNNERFLEET_EPHEMERAL": "true",
        "RUNNERFLEET_RUNNER_LABELS": "self-hosted,linux,x64,gpu",
    }
    s = AgentSettings.from_env(env)
    assert s.ephemeral and s.labels[-1] == "gpu" and s.region == "eu-west-1"
    with pytest.raises(SettingsError, match="RUNNERFLEET_NAME is not set"):
        AgentSettings.from_env({k: v for k, v in env.items() if k != "RUNNERFLEET_NAME"})
    with pytest.raises(SettingsError, match="true or false"):
        AgentSettings.from_env({**env, "RUNNERFLEET_EPHEMERAL": "yes"})


class _Imds:
    def __init__(self) -> None:
        self.puts = 0
        self.spot: str | None = None
        imds = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return None

            def _send(self, code: int, body: str = "") -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def do_PUT(self) -> None:
                imds.puts += 1
                self._send(200, "tok")

            def do_GET(self) -> None:
                if self.headers.get("X-aws-ec2-metadata-token") != "tok":
                    self._send(401)
                elif self.path == "/latest/meta-data/instance-id":
                    self._send(200, "i-0abc\n")
                elif self.path.endswith("spot/instance-action") and imds.spot:
                    self._send(200, json.dumps({"action": imds.spot}))
                elif self.path.endswith("/boom"):
                    self._send(500)
                else:
                    self._send(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_imds_v2_client() -> None:
    fake = _Imds()
    try:
        client = ImdsClient(fake.url)
        assert client.instance_id() == "i-0abc"
        assert client.spot_action() is None
        assert client.lifecycle_state() is None
        fake.spot = "terminate"
        assert client.spot_action() == "terminate"
        assert fake.puts == 1  # one session token, reused
        with pytest.raises(ImdsError, match="HTTP 500"):
            client.get("meta-data/boom")
    finally:
        fake.server.shutdown()
    with pytest.raises(ImdsError, match="token request"):
        ImdsClient("http://127.0.0.1:9", timeout=0.5).instance_id()


def test_agent_entry_point_names_a_missing_setting() -> None:
    import os
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "RUNNERFLEET_REGION": "us-east-1"}
    if "PYTHONPATH" in os.environ:  # the Python 3.10 run puts the artifact there
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    result = subprocess.run(
        [sys.executable, "-m", "runnerfleet.agent"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "RUNNERFLEET_NAME is not set" in result.stderr
    assert "/etc/runnerfleet/host.env" in result.stderr
