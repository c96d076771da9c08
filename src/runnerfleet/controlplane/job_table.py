"""The job table: workflow jobs, per-pool counters and webhook delivery ids, in the control
plane's table. Constant work per webhook event: the webhook path never scans.

A job moves queued/waiting -> in_progress -> completed and never back: deliveries arrive
late, twice or out of order, so a transition only lands when its status ranks higher than
the stored one. Each transition moves the job's pool counters in the same atomic write, so
`queued` and `in_progress` per pool are always current, and the delivery id is claimed in
that same write: a delivery that failed before the write left nothing behind (its
redelivery is processed); one whose write landed is a duplicate forever after.

Stores (both implement `JobTable`):
- `MemoryJobTable`: one process (`runnerfleet serve` without the deployed table, tests).
- `DynamoJobTable`: the table `<name>-control-plane` (infra/modules/control-plane), shared
  with the registrar's claims (`registration#<instance-id>`).

DynamoDB design: string hash key `pk`, no sort key, no index, TTL attribute `expires_at`.

    pk "job#<job id>"       kind "job", job_id, status, rank (0 queued|waiting, 1 in_progress,
                            2 completed), pool (the pool its labels match, "" for none),
                            labels, repository, run_id, created_at, updated_at, runner_name,
                            completed_at, expires_at (open: created_at + 2 days; completed:
                            completed_at + 1 hour)
    pk "pool#<pool>"        kind "pool", queued, in_progress (counters), seq (bumped by every
                            transition), the fleet view the reconcile pass refreshes (asg_name,
                            min_size, max_size, desired, view_at) and the scaler's cooldown
                            stamps (last_scale_out_at, last_scale_in_at). No TTL.
    pk "webhook-delivery#<id>"  expires_at (3 days)

A webhook transition is one TransactWriteItems: Put job (condition: its stored rank is the
one expected), Update pool (ADD the counter deltas, seq), Put delivery (condition: absent).
The transaction's cancellation reasons say which condition failed (a duplicate delivery, or
a job whose stored status differs: the reason carries the stored item,
ReturnValuesOnConditionCheckFailure=ALL_OLD, and the transition is retried from it, with no
extra read). Reading a pool is one consistent GetItem. The periodic pass reads every live
item with one paginated Scan (jobs for stuck-job checks, pools for cooldowns), and rewrites
a pool's counters from the jobs it saw, conditioned on `seq` not having moved, so counters
that drifted (a TTL-expired open job) heal within one pass.

Terraform needs: hash key `pk` (S), TTL on `expires_at`, on-demand billing, no index. IAM
(a transaction is authorized per item action): the webhook needs dynamodb:PutItem,
UpdateItem, DeleteItem (a released delivery id) and GetItem (the pool's row); the reconcile
pass dynamodb:Scan, PutItem, UpdateItem.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from runnerfleet.controlplane.scaler import Job

log = logging.getLogger(__name__)

RANK = {"queued": 0, "waiting": 0, "in_progress": 1, "completed": 2}
OPEN_TTL_SECONDS = 2 * 24 * 3600
DONE_TTL_SECONDS = 3600
DELIVERY_TTL_SECONDS = 3 * 24 * 3600
MAX_ATTEMPTS = 3


def _epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _counter(rank: int | None) -> str | None:
    return {0: "queued", 1: "in_progress"}.get(rank) if rank is not None else None


@dataclass(frozen=True)
class JobUpdate:
    """What one `workflow_job` delivery (or GitHub's job API) says about a job."""

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
            runner_name=event.runner_name if isinstance(event.runner_name, str) else None,
            completed_at=_epoch(event.completed_at),
        )

    @classmethod
    def from_github(cls, job: Any, repository: str) -> JobUpdate:
        """From a `runnerfleet.github.models.WorkflowJob` (the periodic pass's refresh)."""
        return cls(
            job_id=int(job.id),
            status=str(job.status) if job.status in RANK else "queued",  # requested, pending
            labels=tuple(str(x) for x in job.labels),
            repository=repository,
            run_id=int(job.run_id),
            created_at=_epoch(job.created_at) or 0.0,
            runner_name=job.runner_name if isinstance(job.runner_name, str) else None,
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


@dataclass(frozen=True)
class PoolView:
    """A pool's row: live counters, the cached fleet view and the cooldown stamps."""

    pool: str
    queued: int = 0
    in_progress: int = 0
    seq: int = 0
    asg_name: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    desired: int | None = None
    view_at: float | None = None
    last_scale_out_at: float | None = None
    last_scale_in_at: float | None = None

    @property
    def has_group(self) -> bool:
        return (
            self.asg_name is not None
            and self.min_size is not None
            and self.max_size is not None
            and self.desired is not None
        )


Outcome = Literal["recorded", "unchanged", "duplicate"]


@dataclass(frozen=True)
class Transition:
    outcome: Outcome
    stored_status: str | None = None  # what is stored after the call


class JobTable(Protocol):
    """The job table (see module docstring)."""

    def transition(
        self, update: JobUpdate, pool: str, delivery: str | None, now: float
    ) -> Transition:
        """Apply the update if it ranks higher than what is stored, moving the pool's
        counters and claiming `delivery` in the same write."""
        ...

    def release(self, delivery: str) -> None:
        """Forget a claimed delivery id (its processing failed: let a redelivery in)."""
        ...

    def pool(self, pool: str) -> PoolView: ...

    def remember_group(
        self, pool: str, *, asg_name: str, min_size: int, max_size: int, desired: int, now: float
    ) -> None:
        """Cache the pool's Auto Scaling group as the fleet adapter last saw it."""
        ...

    def raise_desired(self, pool: str, desired: int, now: float) -> int:
        """Record a scale-out to `desired` unless a higher one is recorded; returns the
        desired capacity recorded afterwards."""
        ...

    def mark_scaled(self, pool: str, direction: Literal["out", "in"], now: float) -> None: ...

    def host_left(self, pool: str) -> None:
        """An ephemeral host finished its job and leaves with a decrement (above the group's
        minimum): lower the cached desired capacity by one, never below the minimum."""
        ...

    def scan(self, now: float) -> tuple[list[tuple[JobUpdate, str]], dict[str, PoolView]]:
        """Every live job (with its pool) and every pool row (the periodic pass only)."""
        ...

    def correct_counters(self, pool: str, queued: int, in_progress: int, seq: int) -> bool:
        """Set the counters unless a transition happened since `seq` was read."""
        ...


# ---- pure helpers shared by both stores -------------------------------------------------
def counts(jobs: Iterable[tuple[JobUpdate, str]]) -> dict[str, tuple[int, int]]:
    """(queued, in_progress) per pool from the jobs themselves."""
    out: dict[str, list[int]] = {}
    for update, pool in jobs:
        if not pool or update.rank == 2:
            continue
        row = out.setdefault(pool, [0, 0])
        row[update.rank] += 1
    return {p: (q, r) for p, (q, r) in out.items()}


def jobs_of(rows: Iterable[tuple[JobUpdate, str]]) -> list[Job]:
    return [u.as_job() for u, _ in sorted(rows, key=lambda r: r[0].job_id)]


# ---- memory ------------------------------------------------------------------------------
@dataclass
class MemoryJobTable:
    """In-process job table (local `runnerfleet serve`, tests): the same rules under a lock."""

    _jobs: dict[int, tuple[JobUpdate, str, int]] = field(default_factory=dict)
    _pools: dict[str, PoolView] = field(default_factory=dict)
    _deliveries: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # (expires at, key) of every job and delivery written, earliest first; an entry whose
    # key has since been rewritten with another expiry (or released) is skipped when it
    # comes due, so expiring costs O(log n) per item, not a sweep of the table per call.
    _job_expiry: list[tuple[float, int]] = field(default_factory=list, repr=False)
    _delivery_expiry: list[tuple[float, str]] = field(default_factory=list, repr=False)

    def _expire(self, now: float) -> None:
        jobs, due = self._jobs, self._job_expiry
        while due and due[0][0] <= now:
            exp, job_id = heapq.heappop(due)
            stored = jobs.get(job_id)
            if stored is not None and stored[2] == exp:
                del jobs[job_id]
        deliveries, gone = self._deliveries, self._delivery_expiry
        while gone and gone[0][0] <= now:
            exp, delivery = heapq.heappop(gone)
            if deliveries.get(delivery) == exp:
                del deliveries[delivery]

    def transition(
        self, update: JobUpdate, pool: str, delivery: str | None, now: float
    ) -> Transition:
        with self._lock:
            self._expire(now)
            if delivery is not None and delivery in self._deliveries:
                return Transition("duplicate")
            old = self._jobs.get(update.job_id)
            if delivery is not None:
                self._deliveries[delivery] = expires = now + DELIVERY_TTL_SECONDS
                heapq.heappush(self._delivery_expiry, (expires, delivery))
            if old is not None and old[0].rank >= update.rank:
                return Transition("unchanged", old[0].status)
            job_expires = update.expires_at(now)
            self._jobs[update.job_id] = (update, pool, job_expires)
            heapq.heappush(self._job_expiry, (job_expires, update.job_id))
            if pool:
                view = self._pools.get(pool, PoolView(pool))
                delta = {"queued": 0, "in_progress": 0}
                was, now_c = _counter(old[0].rank if old else None), _counter(update.rank)
                if was:
                    delta[was] -= 1
                if now_c:
                    delta[now_c] += 1
                self._pools[pool] = replace(
                    view,
                    queued=view.queued + delta["queued"],
                    in_progress=view.in_progress + delta["in_progress"],
                    seq=view.seq + 1,
                )
            return Transition("recorded", update.status)

    def release(self, delivery: str) -> None:
        with self._lock:
            self._deliveries.pop(delivery, None)

    def pool(self, pool: str) -> PoolView:
        with self._lock:
            return self._pools.get(pool, PoolView(pool))

    def remember_group(
        self, pool: str, *, asg_name: str, min_size: int, max_size: int, desired: int, now: float
    ) -> None:
        with self._lock:
            view = self._pools.get(pool, PoolView(pool))
            self._pools[pool] = replace(
                view,
                asg_name=asg_name,
                min_size=min_size,
                max_size=max_size,
                desired=desired,
                view_at=now,
            )

    def raise_desired(self, pool: str, desired: int, now: float) -> int:
        with self._lock:
            view = self._pools.get(pool, PoolView(pool))
            if view.desired is None or view.desired < desired:
                view = replace(view, desired=desired, last_scale_out_at=now)
                self._pools[pool] = view
            return view.desired if view.desired is not None else desired

    def mark_scaled(self, pool: str, direction: Literal["out", "in"], now: float) -> None:
        with self._lock:
            view = self._pools.get(pool, PoolView(pool))
            if direction == "out":
                self._pools[pool] = replace(view, last_scale_out_at=now)
            else:
                self._pools[pool] = replace(view, last_scale_in_at=now)

    def host_left(self, pool: str) -> None:
        with self._lock:
            view = self._pools.get(pool, PoolView(pool))
            if view.desired is not None and view.desired > (view.min_size or 0):
                self._pools[pool] = replace(view, desired=view.desired - 1)

    def scan(self, now: float) -> tuple[list[tuple[JobUpdate, str]], dict[str, PoolView]]:
        with self._lock:
            self._expire(now)
            rows = [(u, p) for u, p, _ in self._jobs.values()]
            return rows, dict(self._pools)

    def correct_counters(self, pool: str, queued: int, in_progress: int, seq: int) -> bool:
        with self._lock:
            view = self._pools.get(pool, PoolView(pool))
            if view.seq != seq:
                return False
            self._pools[pool] = replace(view, queued=queued, in_progress=in_progress)
            return True


# ---- DynamoDB ----------------------------------------------------------------------------
def _job_item(update: JobUpdate, pool: str, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"job#{update.job_id}"},
        "kind": {"S": "job"},
        "job_id": {"N": str(update.job_id)},
        "status": {"S": update.status},
        "rank": {"N": str(update.rank)},
        "pool": {"S": pool},
        "labels": {"L": [{"S": x} for x in update.labels]},
        "repository": {"S": update.repository},
        "run_id": {"N": str(update.run_id)},
        "created_at": {"N": repr(float(update.created_at))},
        "updated_at": {"N": repr(float(now))},
        "expires_at": {"N": str(update.expires_at(now))},
    }
    if update.runner_name:
        item["runner_name"] = {"S": update.runner_name}
    if update.completed_at is not None:
        item["completed_at"] = {"N": repr(float(update.completed_at))}
    return item


def _job_from_item(item: Mapping[str, Any]) -> tuple[JobUpdate, str]:
    def num(key: str) -> float | None:
        return float(item[key]["N"]) if key in item else None

    update = JobUpdate(
        job_id=int(item["job_id"]["N"]),
        status=str(item["status"]["S"]),
        labels=tuple(str(x["S"]) for x in item.get("labels", {}).get("L", [])),
        repository=str(item.get("repository", {}).get("S", "")),
        run_id=int(float(item.get("run_id", {}).get("N", "0"))),
        created_at=num("created_at") or 0.0,
        runner_name=str(item["runner_name"]["S"]) if "runner_name" in item else None,
        completed_at=num("completed_at"),
    )
    return update, str(item.get("pool", {}).get("S", ""))


def _pool_from_item(pool: str, item: Mapping[str, Any] | None) -> PoolView:
    if not item:
        return PoolView(pool)

    def num(key: str) -> float | None:
        return float(item[key]["N"]) if key in item else None

    def whole(key: str) -> int | None:
        value = num(key)
        return None if value is None else int(value)

    return PoolView(
        pool=pool,
        queued=max(0, whole("queued") or 0),
        in_progress=max(0, whole("in_progress") or 0),
        seq=whole("seq") or 0,
        asg_name=str(item["asg_name"]["S"]) if "asg_name" in item else None,
        min_size=whole("min_size"),
        max_size=whole("max_size"),
        desired=whole("desired"),
        view_at=num("view_at"),
        last_scale_out_at=num("last_scale_out_at"),
        last_scale_in_at=num("last_scale_in_at"),
    )


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


@dataclass
class DynamoJobTable:
    """The job table in DynamoDB (see module docstring for the item design)."""

    dynamodb: Any
    table: str

    def _key(self, pk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}}

    def _delivery_put(self, delivery: str, now: float) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": {
                    "pk": {"S": f"webhook-delivery#{delivery}"},
                    "kind": {"S": "delivery"},
                    "expires_at": {"N": str(int(now + DELIVERY_TTL_SECONDS))},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def transition(
        self, update: JobUpdate, pool: str, delivery: str | None, now: float
    ) -> Transition:
        # The usual predecessor: nothing before `queued`, `queued` before `in_progress`, ...
        expected: int | None = {0: None, 1: 0, 2: 1}[update.rank]
        for _ in range(MAX_ATTEMPTS):
            items = self._transition_items(update, pool, expected, now)
            if delivery is not None:
                items.append(self._delivery_put(delivery, now))
            try:
                self.dynamodb.transact_write_items(TransactItems=items)
                return Transition("recorded", update.status)
            except Exception as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                found = getattr(exc, "response", {}).get("CancellationReasons", [])
                reasons = [str(r.get("Code", "None")) for r in found]
                if delivery is not None and reasons and reasons[-1] == "ConditionalCheckFailed":
                    return Transition("duplicate")
                if not reasons or reasons[0] != "ConditionalCheckFailed":
                    raise  # a conflict with a concurrent transaction: let the caller retry
            stored = found[0].get("Item") or {}  # ALL_OLD: what is stored, no extra read
            rank = int(stored["rank"]["N"]) if "rank" in stored else None
            status = str(stored["status"]["S"]) if "status" in stored else None
            if rank is not None and rank >= update.rank:
                if delivery is not None and not self._claim(delivery, now):
                    return Transition("duplicate")
                return Transition("unchanged", status)
            expected = rank
        raise RuntimeError(f"job {update.job_id}: its row kept changing under the transition")

    def _transition_items(
        self, update: JobUpdate, pool: str, expected: int | None, now: float
    ) -> list[dict[str, Any]]:
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": _job_item(update, pool, now),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if expected is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#r = :expected"
            put["ExpressionAttributeNames"] = {"#r": "rank"}
            put["ExpressionAttributeValues"] = {":expected": {"N": str(expected)}}
        items: list[dict[str, Any]] = [{"Put": put}]
        if pool:
            delta = {"queued": 0, "in_progress": 0}
            was, becomes = _counter(expected), _counter(update.rank)
            if was:
                delta[was] -= 1
            if becomes:
                delta[becomes] += 1
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": self._key(f"pool#{pool}"),
                        "UpdateExpression": "ADD queued :q, in_progress :r, seq :one "
                        "SET kind = :kind",
                        "ExpressionAttributeValues": {
                            ":q": {"N": str(delta["queued"])},
                            ":r": {"N": str(delta["in_progress"])},
                            ":one": {"N": "1"},
                            ":kind": {"S": "pool"},
                        },
                    }
                }
            )
        return items

    def _claim(self, delivery: str, now: float) -> bool:
        put = self._delivery_put(delivery, now)["Put"]
        try:
            self.dynamodb.put_item(**put)
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, delivery: str) -> None:
        self.dynamodb.delete_item(
            TableName=self.table, Key=self._key(f"webhook-delivery#{delivery}")
        )

    def pool(self, pool: str) -> PoolView:
        got = self.dynamodb.get_item(
            TableName=self.table, Key=self._key(f"pool#{pool}"), ConsistentRead=True
        )
        return _pool_from_item(pool, got.get("Item"))

    def remember_group(
        self, pool: str, *, asg_name: str, min_size: int, max_size: int, desired: int, now: float
    ) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(f"pool#{pool}"),
            UpdateExpression="SET kind = :kind, asg_name = :a, min_size = :lo, max_size = :hi, "
            "desired = :d, view_at = :t",
            ExpressionAttributeValues={
                ":kind": {"S": "pool"},
                ":a": {"S": asg_name},
                ":lo": {"N": str(min_size)},
                ":hi": {"N": str(max_size)},
                ":d": {"N": str(desired)},
                ":t": {"N": repr(float(now))},
            },
        )

    def raise_desired(self, pool: str, desired: int, now: float) -> int:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(f"pool#{pool}"),
                UpdateExpression="SET kind = :kind, desired = :d, last_scale_out_at = :t",
                ConditionExpression="attribute_not_exists(desired) OR desired < :d",
                ExpressionAttributeValues={
                    ":kind": {"S": "pool"},
                    ":d": {"N": str(desired)},
                    ":t": {"N": repr(float(now))},
                },
            )
        except Exception as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            stored = self.pool(pool).desired
            return stored if stored is not None else desired
        return desired

    def mark_scaled(self, pool: str, direction: Literal["out", "in"], now: float) -> None:
        key = "last_scale_out_at" if direction == "out" else "last_scale_in_at"
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(f"pool#{pool}"),
            UpdateExpression=f"SET kind = :kind, {key} = :t",
            ExpressionAttributeValues={":kind": {"S": "pool"}, ":t": {"N": repr(float(now))}},
        )

    def host_left(self, pool: str) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(f"pool#{pool}"),
                UpdateExpression="SET desired = desired - :one",
                ConditionExpression="desired > min_size",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except Exception as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise

    def scan(self, now: float) -> tuple[list[tuple[JobUpdate, str]], dict[str, PoolView]]:
        rows: list[tuple[JobUpdate, str]] = []
        pools: dict[str, PoolView] = {}
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="(#kind = :job AND #exp > :now) OR #kind = :pool",
            ExpressionAttributeNames={"#kind": "kind", "#exp": "expires_at"},
            ExpressionAttributeValues={
                ":job": {"S": "job"},
                ":pool": {"S": "pool"},
                ":now": {"N": str(int(now))},
            },
        )
        for page in pages:
            for item in page.get("Items", []):
                try:
                    if item["kind"]["S"] == "pool":
                        name = str(item["pk"]["S"]).removeprefix("pool#")
                        pools[name] = _pool_from_item(name, item)
                    else:
                        rows.append(_job_from_item(item))
                except (KeyError, ValueError, TypeError) as exc:  # one bad row breaks nothing
                    log.warning("skipping malformed row %s: %s", item.get("pk"), exc)
        return rows, pools

    def correct_counters(self, pool: str, queued: int, in_progress: int, seq: int) -> bool:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(f"pool#{pool}"),
                UpdateExpression="SET kind = :kind, queued = :q, in_progress = :r",
                ConditionExpression="attribute_not_exists(seq) OR seq = :seq",
                ExpressionAttributeValues={
                    ":kind": {"S": "pool"},
                    ":q": {"N": str(queued)},
                    ":r": {"N": str(in_progress)},
                    ":seq": {"N": str(seq)},
                },
            )
        except Exception as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True


def create_table(dynamodb: Any, table: str) -> None:
    """The table as infra/modules/control-plane makes it (local runs and tests)."""
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
