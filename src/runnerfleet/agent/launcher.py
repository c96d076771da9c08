"""Starting the runner's own scripts (`config.sh`, `run.sh`) as the `runner` user.

Secrets travel only in the child's environment (`ACTIONS_RUNNER_INPUT_JITCONFIG`,
`ACTIONS_RUNNER_INPUT_TOKEN`); argv never holds one, so `ps` shows nothing secret.
"""

from __future__ import annotations

import os
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

    def _env(self, env: Mapping[str, str]) -> dict[str, str]:
        base = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
        base["RUNNER_ALLOW_RUNASROOT"] = "0"
        return {**base, **env}

    def _user(self) -> str | None:
        return self.user if self.user and os.geteuid() == 0 else None

    def run(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> int:
        check_argv(argv, list(env.values()))
        proc = subprocess.run(
            list(argv),
            cwd=self.runner_dir,
            env=self._env(env),
            user=self._user(),
            timeout=timeout,
            check=False,
        )
        return proc.returncode

    def start(self, argv: Sequence[str], env: Mapping[str, str]) -> RunnerProcess:
        check_argv(argv, list(env.values()))
        proc = subprocess.Popen(
            list(argv),
            cwd=self.runner_dir,
            env=self._env(env),
            user=self._user(),
            start_new_session=self.start_new_session,
        )
        if self.pid_file is not None:
            self.pid_file.write_text(str(proc.pid), encoding="utf-8")
        return _Popen(proc)
