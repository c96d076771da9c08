"""terraform runs in its own process group: signals forwarded, nothing left behind.

A stand-in `terraform` (a shell script) shows what the real one would see: SIGINT forwarded
to it while we wait, SIGTERM when the CLI is SIGKILLed (parent-death signal), and a process
group recorded so the next run can stop what an earlier one left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runnerfleet.terraform import (
    Binary,
    Terraform,
    TerraformInterrupted,
    group_members,
    kill_stale_processes,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def fake_terraform(folder: Path, body: str) -> Binary:
    script = folder / "terraform-fake"
    script.write_text("#!/bin/bash\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return Binary(str(script), "terraform", (1, 11, 0))


def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> bool:
    """Poll a condition with a generous bound (the event is a file or a process state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def before_int() -> Any:
    """SIGINT's current handler (left as it is)."""
    return signal.getsignal(signal.SIGINT)


@pytest.mark.parametrize("ignored_by_the_cli", [False, True])
def test_sigint_is_forwarded_and_terraform_is_waited_for(
    tmp_path: Path, ignored_by_the_cli: bool
) -> None:
    """Also when the CLI was started with SIGINT ignored (`runnerfleet up &` in a script):
    terraform must not inherit that, or the forwarded signal would do nothing."""
    marker = tmp_path / "stopped-cleanly"
    binary = fake_terraform(
        tmp_path,
        f"""
        trap 'sleep 0.2; echo state written > {marker}; exit 1' INT
        echo ready >&2
        for _ in $(seq 600); do sleep 0.05; done  # bounded: a lost signal fails, not hangs
        """,
    )

    def on_line(line: str) -> None:
        if line == "ready":
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C reaches the CLI

    tf = Terraform(tmp_path, binary=binary, on_line=on_line, verbose=True)
    before = signal.signal(signal.SIGINT, signal.SIG_IGN if ignored_by_the_cli else before_int())
    try:
        with pytest.raises(TerraformInterrupted, match="SIGINT") as exc:
            tf.run(["apply"])
    finally:
        signal.signal(signal.SIGINT, before)
    assert exc.value.signum == signal.SIGINT
    assert marker.read_text().strip() == "state written", "terraform was not waited for"


def test_terraform_runs_in_its_own_group_and_its_children_are_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "terraform.pid"
    child = tmp_path / "child.pid"
    binary = fake_terraform(
        tmp_path,
        f"""
        sleep 300 &  # a provider it leaves behind
        echo $! > {child}
        echo "pgid $(ps -o pgid= $$)"
        """,
    )
    tf = Terraform(tmp_path, binary=binary, pid_file=pid_file)
    out = tf.run(["apply"], capture=True).stdout
    pgid = int(out.split()[1])
    assert pgid != os.getpgid(0), "terraform shares the CLI's process group"
    leftover = int(child.read_text())
    assert wait_for(lambda: not group_members(pgid)), f"process {leftover} left behind"
    assert not pid_file.exists()


def test_a_killed_cli_stops_terraform_and_the_next_run_kills_stale_groups(
    tmp_path: Path,
) -> None:
    terminated = tmp_path / "got-sigterm"
    pid_file = tmp_path / "terraform.pid"
    binary = fake_terraform(
        tmp_path,
        f"""
        trap 'echo yes > {terminated}; exit 1' TERM
        echo ready
        while true; do sleep 0.05; done
        """,
    )
    cli = textwrap.dedent(
        f"""
        from pathlib import Path
        from runnerfleet.terraform import Binary, Terraform
        b = Binary({binary.path!r}, "terraform", (1, 11, 0))
        tf = Terraform(Path({str(tmp_path)!r}), binary=b, pid_file=Path({str(pid_file)!r}))
        tf.run(["apply"])
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", cli])
    assert wait_for(pid_file.exists), "terraform never started"
    pgid = int(pid_file.read_text().split()[0])
    proc.kill()  # SIGKILL: no handler of ours runs
    proc.wait(timeout=30)
    assert wait_for(terminated.exists), "terraform got no SIGTERM when the CLI died"
    assert wait_for(lambda: not group_members(pgid))
    # A group that survived (e.g. terraform itself SIGKILLed): the next run stops it.
    stale = subprocess.Popen(
        ["bash", "-c", "exec -a terraform-provider-aws sleep 300"], start_new_session=True
    )
    pid_file.write_text(f"{stale.pid} apply\n")
    lines: list[str] = []
    assert kill_stale_processes(pid_file, lines.append) == [stale.pid]
    assert stale.wait(timeout=60) is not None
    assert not pid_file.exists() and "left by an earlier run" in lines[0]


def test_an_unrelated_process_group_is_never_killed(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        pid_file = tmp_path / "terraform.pid"
        pid_file.write_text(f"{other.pid} apply\n")
        assert kill_stale_processes(pid_file) == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(timeout=30)
