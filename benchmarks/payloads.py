"""`workflow_job` delivery bodies for the webhook benchmarks, in the GitHub emulator's shape.

`templates()` asks the emulator (in process) for one payload per action (`queued`,
`in_progress`, `completed`, about 6.5 KB each, the shape GitHub sends); `body(templates,
action, job_id, labels, runner_name)` makes one delivery body from them with its own ids.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from runnerfleet.github.emulator.server import GitHubEmulator

OWNER, REPO = "acme", "app"


def templates(secret: str) -> dict[str, dict[str, Any]]:
    """One emulator payload per action (queued, in_progress, completed)."""
    emu = GitHubEmulator(webhook_secret=secret)
    emu.sender.url = None
    emu.start()
    try:
        emu.add_installation(OWNER)
        world = emu.world
        job_id = emu.enqueue_job(OWNER, REPO, ["self-hosted", "linux"])
        with world.lock:
            rec = world.create_runner(OWNER, None, "bench-runner-small-i-0abc", ["linux"],
                                      ephemeral=True)  # fmt: skip
            world._online(rec)
            offered = world.poll(rec)
            assert offered is not None and offered.id == job_id
            world.start(rec, job_id)
            world.complete(rec, job_id, "success")
            emu._drain_events()
        out: dict[str, dict[str, Any]] = {}
        for d in emu.deliveries.values():
            payload = json.loads(d.body)
            out.setdefault(payload["action"], payload)
        return out
    finally:
        emu.stop()


def body(
    tpl: dict[str, dict[str, Any]],
    action: str,
    job_id: int,
    labels: list[str],
    runner_name: str | None = None,
) -> bytes:
    payload = copy.deepcopy(tpl[action])
    job = payload["workflow_job"]
    job["id"], job["run_id"], job["labels"] = job_id, job_id // 2 + 1, labels
    if action != "queued":
        job["runner_name"] = runner_name or job["runner_name"]
    return json.dumps(payload, separators=(",", ":")).encode()
