"""One operation per project folder at a time: a local lock file naming its holder.

`.runnerfleet/operation.lock` holds JSON (pid, command, start time, host) and an exclusive
`flock` for as long as the operation runs. The kernel drops the flock when the holder dies
(even by SIGKILL), so a lock file left by a dead process is stale and the next command takes
it over (and says so); a live holder makes a second `up`/`down`/`plan` fail at once, naming
the holder. Nothing here touches the Terraform state lock (S3/DynamoDB), which guards the
state across machines: see `runnerfleet state lock` / `state unlock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCK_NAME = "operation.lock"


class OperationLocked(Exception):
    """Another runnerfleet operation holds this project folder."""

    def __init__(self, path: Path, holder: dict[str, Any]):
        self.path = path
        self.holder = holder
        who = (
            f"pid {holder.get('pid', '?')} (`runnerfleet {holder.get('command', '?')}`, "
            f"started {holder.get('started', '?')} on {holder.get('host', '?')})"
        )
        super().__init__(
            f"another runnerfleet operation is running in this project folder: {who}. "
            f"Wait for it to finish, or stop it (kill {holder.get('pid', '<pid>')}); the lock "
            f"is {path}"
        )


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    started: str
    host: str

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "command": self.command, "started": self.started,
                "host": self.host}  # fmt: skip


def read_holder(path: Path) -> dict[str, Any]:
    """The holder recorded in a lock file ({} when unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def operation_lock(
    home: Path, command: str, report: Callable[[str], None] | None = None
) -> Iterator[Holder]:
    """Hold the project's operation lock for the duration of the block.

    Raises OperationLocked at once when a live process holds it. A lock file whose holder
    is gone (its flock was dropped with the process) is taken over and reported.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OperationLocked(path, read_holder(path)) from None
        previous = read_holder(path)
        if previous and report is not None:
            report(
                f"took over a stale operation lock of pid {previous.get('pid')} "
                f"(`runnerfleet {previous.get('command')}`, started {previous.get('started')}; "
                "that process is gone)"
            )
        holder = Holder(
            pid=os.getpid(),
            command=command,
            started=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            host=socket.gethostname(),
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder.to_json()) + "\n").encode(), 0)
        os.fsync(fd)
        try:
            yield holder
        finally:
            os.ftruncate(fd, 0)  # an empty file: released cleanly (no stale-lock message)
    finally:
        os.close(fd)  # drops the flock


def new_run_id() -> str:
    """A unique, sortable id for one run's files (plan, var file, terraform logs)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{os.getpid()}-{time.monotonic_ns() % 1_000_000:06d}"
