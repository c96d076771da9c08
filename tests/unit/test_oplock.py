"""One operation per project folder: the local lock names its holder; stale locks are taken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runnerfleet.oplock import LOCK_NAME, OperationLocked, new_run_id, operation_lock

HOLD = """
import sys, pathlib
from runnerfleet.oplock import operation_lock
with operation_lock(pathlib.Path(sys.argv[1]), "up"):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of tmp_path/.runnerfleet until the test ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / ".runnerfleet")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def test_a_live_holder_is_named(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(OperationLocked) as exc, operation_lock(tmp_path / ".runnerfleet", "down"):
        pass
    assert exc.value.holder["pid"] == holder.pid
    assert exc.value.holder["command"] == "up"
    assert f"pid {holder.pid}" in str(exc.value) and "runnerfleet up" in str(exc.value)


def test_a_stale_lock_of_a_dead_pid_is_taken_over(tmp_path: Path) -> None:
    home = tmp_path / ".runnerfleet"
    home.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = {"pid": int(dead.stdout), "command": "up", "started": "x", "host": "h"}
    (home / LOCK_NAME).write_text(json.dumps(stale))
    seen: list[str] = []
    with operation_lock(home, "up", seen.append) as me:
        assert me.pid == os.getpid()
        assert json.loads((home / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert any("stale operation lock" in line and str(stale["pid"]) in line for line in seen)
    # Released cleanly: the next operation reports nothing stale.
    seen.clear()
    with operation_lock(home, "down", seen.append):
        pass
    assert seen == []


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / ".runnerfleet")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    proc.kill()
    proc.wait(timeout=30)
    seen: list[str] = []
    with operation_lock(tmp_path / ".runnerfleet", "up", seen.append):
        pass
    assert any(str(proc.pid) in line for line in seen)


def test_run_ids_are_unique() -> None:
    assert len({new_run_id() for _ in range(200)}) == 200


def test_second_up_fails_fast_naming_the_holder(
    tmp_path: Path, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import runnerfleet.commands.common as common
    from runnerfleet.cli import app

    started: list[str] = []
    monkeypatch.setattr(common, "resolve_target", lambda *a, **k: started.append("target"))
    for key in list(os.environ):
        if key.startswith("RUNNERFLEET_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["up", "--sandbox", "--yes"])
    assert result.exit_code == 1, result.output
    assert f"pid {holder.pid}" in result.output and "runnerfleet up" in result.output
    assert started == [], "the second up started something"
