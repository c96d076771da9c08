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
import itertools
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
        pid = holder.get("pid")
        if (
            isinstance(pid, int)
            and holder.get("host") == socket.gethostname()
            and not pid_alive(pid)
        ):
            # The kernel keeps a flock while any process shares the open file (a child that
            # inherited it): the named holder is gone, something it started is not.
            who += ", which has exited; a process it started still holds the lock"
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
    fd = _acquire(path)
    try:
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


HOLDER_WAIT_S = 2.0  # how long a contender waits for the holder to write its name


def _acquire(path: Path) -> int:
    """An open fd of `path` holding its exclusive flock; OperationLocked if a live process
    holds it.

    Two windows are closed here. The holder writes its name just after it took the flock
    and empties the file just before it drops it, so a contender may find the flock held
    and the file empty: it looks again (briefly) until it can name the holder or take the
    lock. And a lock file removed or replaced while held (by hand, or a stale cleanup) is
    a different inode: the flock on the old one guards nothing, so the lock is taken again
    on the file now at the path.
    """
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(path)
            if holder.get("pid") is not None or time.monotonic() > deadline:
                raise OperationLocked(path, holder) from None
            time.sleep(0.02)
            continue
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # locked an inode no longer at the path: lock the one that is


_RUN_COUNTER = itertools.count()


def new_run_id() -> str:
    """A unique, sortable id for one run's files (plan, var file, terraform logs): the UTC
    second, the pid and a per-process sequence number (unique within a process; two
    processes alive at once never share a pid)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{os.getpid()}-{next(_RUN_COUNTER):06d}"
