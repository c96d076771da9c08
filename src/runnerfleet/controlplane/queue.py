"""Job bookkeeping: the control plane's table of workflow jobs, fed by `workflow_job` events.

A job moves queued/waiting -> in_progress -> completed and never back: deliveries arrive
late, twice or out of order, so a write only lands when its status ranks at least as high as
the stored one (a conditional write in DynamoDB, the same rule under a lock in memory).

Stores (both implement `JobStore`):
- `MemoryJobStore`: one process (`runnerfleet serve`, tests).
- `DynamoJobStore`: the control plane's table `<name>-control-plane` (infra/modules/
  control-plane), shared with the registrar's claims (`registration#<instance-id>`).

DynamoDB item design (the table's key is the string hash key `pk`, TTL attribute
`expires_at`; no sort key, because the claims items use `pk` alone):

    pk            "job#<job id>"
    kind          "job"
    status        queued | waiting | in_progress | completed
    rank          0 (queued, waiting) | 1 (in_progress) | 2 (completed)
    labels        list of strings (the job's `runs-on` labels)
    repository    "owner/name";  run_id, created_at, updated_at, completed_at (epoch s)
    runner_name   the runner that took the job (in_progress, completed)
    expires_at    open jobs: created_at + 2 days (GitHub drops jobs queued for 24 h);
                  completed jobs: completed_at + 1 hour (the scaler only needs recent ones)

Reading scans with `kind = job AND expires_at > now`: a fleet holds at most a few thousand
live items (open jobs plus an hour of completed ones), a handful of 1 MB pages. A fleet that
outgrows that would add a sparse GSI on open jobs; the item shape already allows it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from runnerfleet.controlplane.scaler import Job

RANK = {"queued": 0, "waiting": 0, "in_progress": 1, "completed": 2}
OPEN_TTL_SECONDS = 2 * 24 * 3600
DONE_TTL_SECONDS = 3600
KIND = "job"


def _epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class JobUpdate:
    """What one `workflow_job` delivery says about its job."""

    job_id: int
    status: str
    labels: tuple[str, ...]
    repository: str = ""
    run_id: int = 0
    created_at: float = 0.0
    runner_name: str | None = None
    completed_at: float | None = None

    def __post_init__(self) -> None:
        if self.status not in RANK:
            raise ValueError(
                f"job {self.job_id}: status {self.status!r} is not one of {sorted(RANK)}"
            )

    @property
    def rank(self) -> int:
        return RANK[self.status]

    @classmethod
    def from_event(cls, event: Any, received_at: float = 0.0) -> JobUpdate:
        """From a `runnerfleet.github.webhooks.WorkflowJobEvent` (its `action` is the status);
        a delivery without `created_at` counts from `received_at`."""
        return cls(
            job_id=int(event.job_id),
            status=str(event.action),
            labels=tuple(str(x) for x in event.labels),
            repository=str(event.repository or ""),
            run_id=int(event.run_id or 0),
            created_at=_epoch(event.created_at) or received_at,
            runner_name=event.runner_name or None,
            completed_at=_epoch(event.completed_at),
        )

    @classmethod
    def from_github(cls, job: Any, repository: str) -> JobUpdate:
        """From a `runnerfleet.github.models.WorkflowJob` (the reconciler's refresh)."""
        return cls(
            job_id=int(job.id),
            status=str(job.status) if job.status in RANK else "queued",  # requested, pending
            labels=tuple(str(x) for x in job.labels),
            repository=repository,
            run_id=int(job.run_id),
            created_at=_epoch(job.created_at) or 0.0,
            runner_name=job.runner_name or None,
            completed_at=_epoch(job.completed_at),
        )

    def as_job(self) -> Job:
        return Job(
            id=self.job_id,
            labels=self.labels,
            status=self.status,
            created_at=self.created_at,
            runner_name=self.runner_name,
            completed_at=self.completed_at,
            repository=self.repository,
        )

    def expires_at(self, now: float) -> int:
        if self.status == "completed":
            return int((self.completed_at or now) + DONE_TTL_SECONDS)
        return int((self.created_at or now) + OPEN_TTL_SECONDS)


class JobStore(Protocol):
    """The job table."""

    def record(self, update: JobUpdate, now: float) -> bool:
        """Store the update unless a later status is stored; True when it was written."""
        ...

    def jobs(self, now: float) -> list[Job]:
        """Every job not yet expired (open ones and recently completed ones)."""
        ...

    def forget(self, job_id: int) -> None: ...


@dataclass
class MemoryJobStore:
    """In-process job table (local `runnerfleet serve`, tests)."""

    _items: dict[int, tuple[JobUpdate, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, update: JobUpdate, now: float) -> bool:
        with self._lock:
            old = self._items.get(update.job_id)
            if old is not None and old[0].rank > update.rank:
                return False
            self._items[update.job_id] = (update, update.expires_at(now))
            return True

    def jobs(self, now: float) -> list[Job]:
        with self._lock:
            for job_id in [j for j, (_, exp) in self._items.items() if exp <= now]:
                del self._items[job_id]
            return [u.as_job() for u, _ in sorted(self._items.values(), key=lambda x: x[0].job_id)]

    def forget(self, job_id: int) -> None:
        with self._lock:
            self._items.pop(job_id, None)


def _item(update: JobUpdate, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"job#{update.job_id}"},
        "kind": {"S": KIND},
        "job_id": {"N": str(update.job_id)},
        "status": {"S": update.status},
        "rank": {"N": str(update.rank)},
        "labels": {"L": [{"S": x} for x in update.labels]},
        "repository": {"S": update.repository},
        "run_id": {"N": str(update.run_id)},
        "created_at": {"N": repr(update.created_at)},
        "updated_at": {"N": repr(now)},
        "expires_at": {"N": str(update.expires_at(now))},
    }
    if update.runner_name:
        item["runner_name"] = {"S": update.runner_name}
    if update.completed_at is not None:
        item["completed_at"] = {"N": repr(update.completed_at)}
    return item


def _from_item(item: Mapping[str, Any]) -> JobUpdate:
    def num(key: str) -> float | None:
        return float(item[key]["N"]) if key in item else None

    return JobUpdate(
        job_id=int(item["job_id"]["N"]),
        status=str(item["status"]["S"]),
        labels=tuple(str(x["S"]) for x in item.get("labels", {}).get("L", [])),
        repository=str(item.get("repository", {}).get("S", "")),
        run_id=int(float(item.get("run_id", {}).get("N", "0"))),
        created_at=num("created_at") or 0.0,
        runner_name=item["runner_name"]["S"] if "runner_name" in item else None,
        completed_at=num("completed_at"),
    )


@dataclass
class DynamoJobStore:
    """The job table in DynamoDB (see module docstring for the item design)."""

    dynamodb: Any
    table: str

    def record(self, update: JobUpdate, now: float) -> bool:
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item=_item(update, now),
                ConditionExpression="attribute_not_exists(pk) OR #rank <= :rank",
                ExpressionAttributeNames={"#rank": "rank"},
                ExpressionAttributeValues={":rank": {"N": str(update.rank)}},
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False  # a later status is stored
        return True

    def jobs(self, now: float) -> list[Job]:
        out: list[JobUpdate] = []
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="#kind = :kind AND #exp > :now",
            ExpressionAttributeNames={"#kind": "kind", "#exp": "expires_at"},
            ExpressionAttributeValues={":kind": {"S": KIND}, ":now": {"N": str(int(now))}},
        )
        for page in pages:
            out += [_from_item(item) for item in page.get("Items", [])]
        return [u.as_job() for u in sorted(out, key=lambda u: u.job_id)]

    def forget(self, job_id: int) -> None:
        self.dynamodb.delete_item(TableName=self.table, Key={"pk": {"S": f"job#{job_id}"}})


def create_table(dynamodb: Any, table: str) -> None:
    """The table as infra/modules/control-plane makes it (local runs and tests)."""
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
