"""One operation per project folder: the local lock names its holder; stale locks are taken."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runnerfleet import oplock
from runnerfleet.oplock import LOCK_NAME, OperationLocked, new_run_id, operation_lock

HOLD = """
import sys, pathlib
from runnerfleet import oplock
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


def test_run_ids_are_unique_and_sorted_in_one_process() -> None:
    # (They used to end in monotonic_ns() % 10**6: 200 ids in one second collided now and then.)
    ids = [new_run_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def _hold_raw(path: Path) -> int:
    """An fd of `path` holding its flock with nothing written yet: a holder between taking
    the lock and writing its name (or between emptying the file and closing it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_holder_that_has_not_written_its_name_yet_is_still_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / ".runnerfleet"
    fd = _hold_raw(home / LOCK_NAME)
    holder = {"pid": 4242, "command": "up", "started": "now", "host": "elsewhere"}

    def holder_writes(_: float) -> None:  # the contender's wait: the holder writes meanwhile
        os.pwrite(fd, json.dumps(holder).encode(), 0)

    monkeypatch.setattr("runnerfleet.oplock.time.sleep", holder_writes)
    try:
        with pytest.raises(OperationLocked) as exc, operation_lock(home, "down"):
            pass
    finally:
        os.close(fd)
    assert exc.value.holder == holder
    assert "pid 4242" in str(exc.value)


def test_a_holder_that_releases_while_a_contender_looks_is_not_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / ".runnerfleet"
    fd = _hold_raw(home / LOCK_NAME)  # emptied the file, about to close it
    monkeypatch.setattr("runnerfleet.oplock.time.sleep", lambda _: os.close(fd))
    seen: list[str] = []
    with operation_lock(home, "up", seen.append) as me:
        assert json.loads((home / LOCK_NAME).read_text())["pid"] == me.pid
    assert seen == []


def test_a_holder_that_never_writes_is_reported_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / ".runnerfleet"
    fd = _hold_raw(home / LOCK_NAME)
    clock = [0.0]
    monkeypatch.setattr("runnerfleet.oplock.time.monotonic", lambda: clock[0])
    monkeypatch.setattr(
        "runnerfleet.oplock.time.sleep", lambda s: clock.__setitem__(0, clock[0] + s)
    )
    try:
        with pytest.raises(OperationLocked) as exc, operation_lock(home, "down"):
            pass
    finally:
        os.close(fd)
    assert exc.value.holder == {}
    assert oplock.HOLDER_WAIT_S <= clock[0] <= oplock.HOLDER_WAIT_S + 0.1


def test_a_lock_file_removed_before_it_is_locked_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open(), then the file is removed (by hand, a cleanup), then flock(): the flock guards
    an inode no other process can find; the lock is taken again on the file at the path."""
    home = tmp_path / ".runnerfleet"
    home.mkdir()
    real_flock = fcntl.flock
    removed: list[bool] = []

    def flock(fd: int, op: int) -> None:
        if not removed:
            removed.append(True)
            (home / LOCK_NAME).unlink()
        real_flock(fd, op)

    monkeypatch.setattr("runnerfleet.oplock.fcntl.flock", flock)
    with operation_lock(home, "up") as me:
        monkeypatch.setattr("runnerfleet.oplock.fcntl.flock", real_flock)
        assert removed
        assert oplock.read_holder(home / LOCK_NAME).get("pid") == me.pid
        with pytest.raises(OperationLocked), operation_lock(home, "down"):
            pass


def test_a_holder_that_exited_while_its_child_keeps_the_lock_is_said_to_have_exited(
    tmp_path: Path,
) -> None:
    home = tmp_path / ".runnerfleet"
    fd = _hold_raw(home / LOCK_NAME)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    gone = {"pid": int(dead.stdout), "command": "up", "started": "x", "host": socket.gethostname()}
    os.pwrite(fd, json.dumps(gone).encode(), 0)
    try:
        with pytest.raises(OperationLocked) as exc, operation_lock(home, "down"):
            pass
    finally:
        os.close(fd)
    assert "has exited; a process it started still holds the lock" in str(exc.value)


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
