"""`runnerfleet github-emulator` as a separate process, driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runnerfleet.github import emulator_runner
from runnerfleet.github.client import AppAuth, GitHubClient
from runnerfleet.github.emulator import EmulatorControl

CLI = [sys.executable, "-c", "from runnerfleet.cli import main; main()"]


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"emulator exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("emulator did not write its state file in time")
        time.sleep(0.1)


def test_command_serves_and_writes_private_state(tmp_path: Path) -> None:
    state_file = tmp_path / "gh" / "emulator.json"
    env = {**os.environ, "HOOK_SECRET": "hook-secret-value"}
    proc = subprocess.Popen(
        [
            *CLI,
            "github-emulator",
            "--state-file",
            str(state_file),
            "--owner",
            "acme",
            "--webhook-url",
            "http://127.0.0.1:9/hook",
            "--webhook-secret-env",
            "HOOK_SECRET",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait_for(state_file, proc)
        state = json.loads(state_file.read_text())
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
        key_path = Path(state["app_key_path"])
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
        assert set(state) >= {"url", "app_id", "app_key_path", "pat", "installations"}

        client = GitHubClient(state["url"], AppAuth(state["app_id"], key_path.read_text()))
        jit = client.generate_jit_config("acme", None, name="cli-runner", labels=["linux"])
        session = emulator_runner.connect(jit.encoded_jit_config)
        with EmulatorControl(state["url"]) as ctl:
            job = ctl.enqueue_job("acme", "app", ["linux"])
            polled = session.poll_job()
            assert polled is not None and polled["id"] == job
            session.complete_job()
            assert ctl.job(job)["conclusion"] == "success"
            assert ctl.call_counts()["POST /orgs/{org}/actions/runners/generate-jitconfig"] == 1
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert state["url"] in out
    for secret in (state["pat"], "hook-secret-value", "PRIVATE KEY"):
        assert secret not in out and secret not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--webhook-secret-env", "NOPE_UNSET_VAR", "--webhook-url", "http://x"], "NOPE_UNSET"),
        (["--webhook-secret-env", "HOOK_SECRET"], "needs --webhook-url"),
        (["--host", "0.0.0.0"], "loopback"),
        (["--port", "70000"], "65535"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from runnerfleet.cli import app

    monkeypatch.delenv("NOPE_UNSET_VAR", raising=False)
    monkeypatch.setenv("HOOK_SECRET", "x")
    result = CliRunner().invoke(app, ["github-emulator", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
