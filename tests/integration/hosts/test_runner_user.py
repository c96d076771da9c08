"""The runner runs as the `runner` user with its supplementary groups (docker) and its login
environment, started the way a host starts it: the agent's launcher, running as root (the
systemd service), with `runner_user` set. The test creates a user and a `docker`-like group of
its own (unique names, so a real docker group is never touched) and removes both afterwards.

A shell stand-in for run.sh records what it sees (the pyenv interpreter of the suite lives in
/root, which another user cannot execute)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runnerfleet.agent.launcher import RunAs, SubprocessLauncher, UnknownUser

STANDIN = """#!/bin/sh
# run.sh stand-in: records the identity it runs with, then says it listens for jobs.
mkdir -p _diag
{
  echo "uid=$(id -u) user=$(id -un)"
  echo "groups=$(id -Gn)"
  echo "HOME=$HOME USER=$USER LOGNAME=$LOGNAME"
  echo "secret_env=${ACTIONS_RUNNER_INPUT_JITCONFIG:+set}"
  echo "Listening for Jobs"
} > _diag/Runner_identity.log
"""


@pytest.fixture
def runner_account() -> Iterator[tuple[str, str, Path]]:
    if os.geteuid() != 0:
        pytest.fail("this test creates a user and a group: run the suite as root (CI does)")
    suffix = uuid.uuid4().hex[:8]
    user, group = f"rfrun{suffix}", f"rfdock{suffix}"
    base = Path(tempfile.mkdtemp(prefix="rf-runner-user-"))
    base.chmod(0o755)
    home = base / "home"
    subprocess.run(["groupadd", group], check=True, timeout=60)
    try:
        subprocess.run(
            ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
             "--groups", group, user],
            check=True, timeout=60,
        )  # fmt: skip
        try:
            yield user, group, base
        finally:
            subprocess.run(["userdel", "--remove", user], check=False, timeout=60)
    finally:
        subprocess.run(["groupdel", group], check=False, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_runner_sees_its_supplementary_group_and_home(
    runner_account: tuple[str, str, Path],
) -> None:
    user, group, base = runner_account
    runner_dir = base / "actions-runner"
    runner_dir.mkdir()
    (runner_dir / "run.sh").write_text(STANDIN)
    (runner_dir / "run.sh").chmod(0o755)
    run_as = RunAs.lookup(user)
    os.chown(runner_dir, run_as.uid, run_as.gid)

    launcher = SubprocessLauncher(runner_dir, user=user)
    # a secret shaped like a JIT config (a one-letter one could occur in the random path)
    jit = {"ACTIONS_RUNNER_INPUT_JITCONFIG": "ZW5jb2RlZC1qaXQtY29uZmln"}
    proc = launcher.start([str(runner_dir / "run.sh")], jit)
    assert proc.proc.wait(timeout=60) == 0  # type: ignore[attr-defined]

    seen = (runner_dir / "_diag" / "Runner_identity.log").read_text()
    lines = dict(line.split("=", 1) for line in seen.splitlines() if line.startswith("groups="))
    assert group in lines["groups"].split(), seen
    assert f"uid={run_as.uid} user={user}" in seen
    assert f"HOME={base / 'home'} USER={user} LOGNAME={user}" in seen
    assert "secret_env=set" in seen  # the JIT config reaches the runner in its environment
    assert (runner_dir / "_diag").stat().st_uid == run_as.uid  # files belong to the runner


def test_config_sh_runs_as_the_runner_user_too(runner_account: tuple[str, str, Path]) -> None:
    user, group, base = runner_account
    runner_dir = base / "r"
    runner_dir.mkdir()
    script = runner_dir / "config.sh"
    script.write_text('#!/bin/sh\nid -Gn | tr " " "\\n" | grep -qx "$1"\n')
    script.chmod(0o755)
    launcher = SubprocessLauncher(runner_dir, user=user)
    assert launcher.run([str(script), group], {}, timeout=60) == 0
    assert launcher.run([str(script), "root"], {}, timeout=60) != 0  # root's group is dropped


def test_unknown_runner_user_is_named() -> None:
    with pytest.raises(UnknownUser, match=r"rf-no-such-user.*RUNNERFLEET_RUNNER_USER"):
        RunAs.lookup("rf-no-such-user")
