"""Health reporting: a status file (served by nginx at /runner/) and an instance tag.

The tag `runnerfleet:agent-state` lets the control plane's reconciler see hosts whose runner
never came online; the file gives the host's own status page. Neither holds a secret. Terraform
must not fight these tags: the stack's provider ignores `runnerfleet:agent-*` and
`runnerfleet:github-runner-id` (`ignore_tags`).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runnerfleet.agent.decisions import State
from runnerfleet.agent.logsafe import logger

STATE_TAG = "runnerfleet:agent-state"
RUNNER_ID_TAG = "runnerfleet:github-runner-id"

log = logger(__name__)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class HealthReporter:
    """Writes status.json atomically and tags the instance on each state change."""

    status_dir: Path
    ec2: Any
    wall_clock: Callable[[], float]
    instance_id: str | None = None
    runner_name: str | None = None
    runner_id: int | None = None
    history: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    _last_tagged: str | None = None
    _finished: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def report(self, state: State, detail: str = "") -> None:
        """Record `state`: history first, then the status file, then the instance tag; once
        both are written (or failed and logged) the state counts as `completed`."""
        self.history.append(state.value)
        body = {
            "state": state.value,
            "detail": detail,
            "instance_id": self.instance_id,
            "runner_name": self.runner_name,
            "runner_id": self.runner_id,
            "updated_at": _iso(self.wall_clock()),
        }
        self._write(body)
        log.info("state %s%s", state.value, f": {detail}" if detail else "")
        if self.instance_id and self._last_tagged != state.value:
            self._tag(state)
        with self._cond:
            self.completed.append(state.value)
            self._cond.notify_all()

    def finish(self) -> None:
        """The agent returned: wake everyone waiting in `wait_completed`."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def wait_completed(self, state: State, timeout: float, times: int = 1) -> bool:
        """Block until `times` reports of `state` have written their file and tag (True), or
        the agent finished or `timeout` passed first (False). For supervisors and tests."""

        def seen() -> bool:
            return self.completed.count(state.value) >= times

        with self._cond:
            self._cond.wait_for(lambda: seen() or self._finished, timeout=timeout)
            return seen()

    def _write(self, body: dict[str, Any]) -> None:
        try:
            self.status_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.status_dir, prefix=".status.")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(body, fh, indent=2, sort_keys=True)
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.status_dir / "status.json")
        except OSError as exc:
            log.warning("could not write status file in %s: %s", self.status_dir, exc)

    def _tag(self, state: State) -> None:
        tags = [{"Key": STATE_TAG, "Value": state.value}]
        if self.runner_id is not None:
            tags.append({"Key": RUNNER_ID_TAG, "Value": str(self.runner_id)})
        try:
            self.ec2.create_tags(Resources=[self.instance_id], Tags=tags)
            self._last_tagged = state.value
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not tag %s with %s=%s: %s", self.instance_id, STATE_TAG, state, exc)
