"""Jobs in the sandbox's GitHub emulator: queue them, list them, say why one waits.

`queue_jobs` enqueues workflow jobs with the given labels in the emulator (which then
delivers the `workflow_job` webhooks to the function URL) and records their ids in
`<home>/runtime/jobs.json`, so that `runnerfleet jobs` can list them. `job_rows` reads each
job back from the emulator and, for a queued one, explains the wait from what the sandbox
shows (pure: `why_waiting`):

- no pool has its labels (the job is not for this fleet; it stays queued);
- its pool is at its maximum size and every host is busy;
- a host of its pool is booting / its runner is starting;
- the pool's desired capacity has not been raised yet (the webhook was lost; the reconcile
  pass will catch up);
- waiting for an idle runner.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOBS_FILE = "runtime/jobs.json"


@dataclass(frozen=True)
class PoolView:
    """One pool as the sandbox sees it."""

    name: str
    labels: tuple[str, ...]
    desired: int = 0
    max_size: int = 0
    instances: int = 0  # pending or running
    booting: int = 0  # hosts booting or starting their runner
    online: int = 0


def pool_for(labels: Sequence[str], pools: Sequence[PoolView]) -> PoolView | None:
    """The pool whose runners carry every label of the job (GitHub's matching rule)."""
    want = {x.lower() for x in labels}
    for pool in pools:
        if want <= {x.lower() for x in pool.labels}:
            return pool
    return None


def why_waiting(labels: Sequence[str], pools: Sequence[PoolView], queued_ahead: int) -> str:
    """Why a queued job has not started (see the module docstring)."""
    pool = pool_for(labels, pools)
    if pool is None:
        return f"no pool has its labels ({', '.join(labels)})"
    if pool.booting:
        return f"pool {pool.name}: host booting ({pool.booting} starting)"
    if pool.desired >= pool.max_size and pool.instances >= pool.max_size:
        return f"pool {pool.name} at max ({pool.max_size}); every host is busy"
    if pool.instances < pool.desired:
        return f"pool {pool.name}: instance launching ({pool.instances}/{pool.desired})"
    if pool.desired <= queued_ahead:
        return f"pool {pool.name}: waiting for scale-out (desired {pool.desired})"
    return f"pool {pool.name}: waiting for an idle runner"


def _locked_update(path: Path, add: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
        rows.extend(add)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1), encoding="utf-8")
        tmp.replace(path)


def recorded(home: Path) -> list[dict[str, Any]]:
    path = home / JOBS_FILE
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return rows


def queue_jobs(
    home: Path, github_url: str, owner: str, repo: str, labels: Sequence[str], count: int,
    duration: float = 0.0,
) -> list[int]:  # fmt: skip
    """Enqueue `count` jobs in the emulator; returns their ids."""
    from runnerfleet.github.emulator import EmulatorControl

    if count < 1:
        raise ValueError(f"--count {count}: queue at least one job")
    if not labels:
        raise ValueError("--labels: give at least one label, e.g. self-hosted,linux")
    ids: list[int] = []
    with EmulatorControl(github_url) as control:
        for _ in range(count):
            ids.append(control.enqueue_job(owner, repo, list(labels)))
    now = time.time()
    _locked_update(
        home / JOBS_FILE,
        [{"id": i, "labels": list(labels), "queued_at": now, "duration": duration} for i in ids],
    )
    return ids


def _epoch(value: Any) -> float | None:
    if not value:
        return None
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def job_rows(home: Path, github_url: str, pools: Sequence[PoolView]) -> list[dict[str, Any]]:
    """Every job queued through the sandbox, as the emulator has it now, with its pool and,
    when queued, why it waits."""
    from runnerfleet.github.emulator import EmulatorControl

    rows: list[dict[str, Any]] = []
    with EmulatorControl(github_url) as control:
        for rec in recorded(home):
            job = control.job(int(rec["id"]))
            rows.append(
                {
                    "id": job["id"],
                    "status": job["status"],
                    "conclusion": job.get("conclusion"),
                    "labels": list(job.get("labels") or rec["labels"]),
                    "runner": job.get("runner_name"),
                    "queued_at": _epoch(job.get("created_at")) or rec["queued_at"],
                    "started_at": _epoch(job.get("started_at")),
                    "completed_at": _epoch(job.get("completed_at")),
                }
            )
    ahead: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        pool = pool_for(row["labels"], pools)
        row["pool"] = pool.name if pool else None
        row["reason"] = None
        if row["status"] == "queued":
            key = pool.name if pool else ""
            row["reason"] = why_waiting(row["labels"], pools, ahead.get(key, 0))
            ahead[key] = ahead.get(key, 0) + 1
    return rows


def pool_views(
    pools: Mapping[str, Sequence[str]], groups: Sequence[Mapping[str, Any]],
    hosts: Sequence[Mapping[str, Any]], name: str,
) -> list[PoolView]:  # fmt: skip
    """PoolViews from the fleet's pools (labels), its ASGs and the runtime's host list."""
    by_pool: dict[str, Mapping[str, Any]] = {}
    for g in groups:
        tags = {t["Key"]: t["Value"] for t in g.get("Tags", [])}
        if tags.get("runnerfleet:fleet") == name and tags.get("runnerfleet:pool"):
            by_pool[tags["runnerfleet:pool"]] = g
    views = []
    for pool, labels in pools.items():
        g = by_pool.get(pool, {})
        mine = [h for h in hosts if h.get("pool") == pool and h.get("state") != "stopped"]
        views.append(
            PoolView(
                name=pool,
                labels=tuple(labels),
                desired=int(g.get("DesiredCapacity", 0)),
                max_size=int(g.get("MaxSize", 0)),
                instances=len(
                    [i for i in g.get("Instances", []) if i.get("LifecycleState") != "Terminating"]
                ),
                booting=len([h for h in mine if h.get("state") in ("booting", "starting")]),
                online=len([h for h in mine if h.get("state") == "online"]),
            )
        )
    return views
