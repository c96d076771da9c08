"""Starting the runner's own scripts (`config.sh`, `run.sh`) as the `runner` user.

When the agent runs as root (the systemd service), the child runs as the configured user with
that user's primary group and every supplementary group of /etc/group (`docker`, so jobs can
use Docker), like `initgroups(3)`, and with HOME, USER, LOGNAME and SHELL from the password
database. Secrets travel only in the child's environment (`ACTIONS_RUNNER_INPUT_JITCONFIG`,
`ACTIONS_RUNNER_INPUT_TOKEN`); argv never holds one, so `ps` shows nothing secret.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Variables a runner child inherits from the agent (plus the ones given per call).
_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONPATH")


class RunnerProcess(Protocol):
    """A started runner."""

    def poll(self) -> int | None: ...

    def stop(self, grace: float) -> int: ...


class Launcher(Protocol):
    """Starts runner scripts. `run` waits for the exit code; `start` returns at once."""

    def run(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> int: ...

    def start(self, argv: Sequence[str], env: Mapping[str, str]) -> RunnerProcess: ...


class SecretInArgv(ValueError):
    """A caller tried to put a secret on a command line."""


class UnknownUser(LookupError):
    """The configured runner user does not exist on this host."""


@dataclass(frozen=True)
class RunAs:
    """Who the runner runs as: ids, supplementary groups and the login environment."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    shell: str

    @classmethod
    def lookup(cls, name: str) -> RunAs:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise UnknownUser(
                f"runner user {name!r} does not exist; the user data creates `runner` "
                "(set RUNNERFLEET_RUNNER_USER to another existing user, or empty to run as the "
                "agent's own user)"
            ) from None
        groups = tuple(sorted(set(os.getgrouplist(name, pw.pw_gid))))
        return cls(name, pw.pw_uid, pw.pw_gid, groups, pw.pw_dir, pw.pw_shell or "/bin/sh")

    def env(self) -> dict[str, str]:
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name, "SHELL": self.shell}


def check_argv(argv: Sequence[str], secrets: Sequence[str]) -> None:
    for arg in argv:
        for secret in secrets:
            if secret and secret in arg:
                raise SecretInArgv("refusing to pass a runner secret on the command line")


@dataclass
class _Popen:
    proc: subprocess.Popen[bytes]

    def poll(self) -> int | None:
        return self.proc.poll()

    def stop(self, grace: float) -> int:
        """SIGINT (the runner finishes cleanly and goes offline), SIGKILL after `grace`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@dataclass
class SubprocessLauncher:
    """Runs scripts in `runner_dir`, as `user` when the agent runs as root."""

    runner_dir: Path
    user: str | None = None
    start_new_session: bool = False
    pid_file: Path | None = None

    def _run_as(self) -> RunAs | None:
        return RunAs.lookup(self.user) if self.user and os.geteuid() == 0 else None

    def _env(self, env: Mapping[str, str], run_as: RunAs | None) -> dict[str, str]:
        base = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
        if run_as is not None:
            base.update(run_as.env())
        base["RUNNER_ALLOW_RUNASROOT"] = "0"
        return {**base, **env}

    def run(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> int:
        check_argv(argv, list(env.values()))
        run_as = self._run_as()
        proc = subprocess.run(
            list(argv),
            cwd=self.runner_dir,
            env=self._env(env, run_as),
            timeout=timeout,
            check=False,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=list(run_as.groups) if run_as else None,
        )
        return proc.returncode

    def start(self, argv: Sequence[str], env: Mapping[str, str]) -> RunnerProcess:
        check_argv(argv, list(env.values()))
        run_as = self._run_as()
        proc = subprocess.Popen(
            list(argv),
            cwd=self.runner_dir,
            env=self._env(env, run_as),
            start_new_session=self.start_new_session,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=list(run_as.groups) if run_as else None,
        )
        if self.pid_file is not None:
            self.pid_file.write_text(str(proc.pid), encoding="utf-8")
        return _Popen(proc)
