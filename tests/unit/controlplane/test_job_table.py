"""MemoryJobTable expiry: jobs and delivery ids leave at their TTL, and a transition's cost
does not grow with what the table holds (no sweep of every job per call, issue 13)."""

from __future__ import annotations

from typing import Any

from runnerfleet.controlplane.job_table import (
    DELIVERY_TTL_SECONDS,
    DONE_TTL_SECONDS,
    OPEN_TTL_SECONDS,
    JobUpdate,
    MemoryJobTable,
)

NOW = 1_800_000_000.0
LABELS = ("self-hosted", "linux")


def queued(job_id: int, at: float = NOW) -> JobUpdate:
    return JobUpdate(job_id, "queued", LABELS, "acme/app", job_id, at)


def completed(job_id: int, at: float) -> JobUpdate:
    return JobUpdate(job_id, "completed", LABELS, "acme/app", job_id, NOW, "r", at)


def ids(table: MemoryJobTable, now: float) -> list[int]:
    return sorted(u.job_id for u, _ in table.scan(now)[0])


def test_jobs_expire_at_their_ttl_and_a_rewrite_moves_the_expiry() -> None:
    t = MemoryJobTable()
    t.transition(queued(1), "p", "d1", NOW)
    t.transition(queued(2), "p", "d2", NOW)
    # job 2 completes an hour later: it now leaves an hour after completion, long before
    # its open TTL; job 1 stays open and leaves at created + 2 days
    done_at = NOW + 3600
    t.transition(completed(2, done_at), "p", "d3", done_at)
    assert ids(t, done_at + DONE_TTL_SECONDS - 1) == [1, 2]
    assert ids(t, done_at + DONE_TTL_SECONDS) == [1]
    assert ids(t, NOW + OPEN_TTL_SECONDS - 1) == [1]
    assert ids(t, NOW + OPEN_TTL_SECONDS) == []
    # counters are the table's; expiry does not touch them (the periodic pass heals them)
    assert t.pool("p").queued == 1


def test_a_job_moved_to_a_later_expiry_is_not_dropped_at_the_earlier_one() -> None:
    t = MemoryJobTable()
    early = NOW - OPEN_TTL_SECONDS + 100  # created long ago: open TTL ends at NOW + 100
    t.transition(queued(7, early), "p", None, NOW)
    running = JobUpdate(7, "in_progress", LABELS, "acme/app", 7, NOW + 50)  # later created_at
    t.transition(running, "p", None, NOW + 10)
    assert ids(t, NOW + 100) == [7]  # the first expiry is stale: skipped
    assert ids(t, NOW + 50 + OPEN_TTL_SECONDS) == []


def test_delivery_ids_expire_and_a_released_one_can_be_claimed_again() -> None:
    t = MemoryJobTable()
    assert t.transition(queued(1), "p", "d", NOW).outcome == "recorded"
    assert t.transition(queued(1), "p", "d", NOW + 1).outcome == "duplicate"
    t.release("d")
    assert t.transition(queued(1), "p", "d", NOW + 2).outcome == "unchanged"
    assert t.transition(queued(1), "p", "d", NOW + 3).outcome == "duplicate"
    later = NOW + 2 + DELIVERY_TTL_SECONDS
    assert t.transition(queued(1), "p", "d", later - 1).outcome == "duplicate"
    assert t.transition(queued(1), "p", "d", later).outcome != "duplicate"  # expired


class CountingDict(dict[Any, Any]):
    """A dict that counts walks over all of its entries."""

    walks = 0

    def items(self) -> Any:
        CountingDict.walks += 1
        return super().items()

    def values(self) -> Any:
        CountingDict.walks += 1
        return super().values()

    def keys(self) -> Any:
        CountingDict.walks += 1
        return super().keys()

    def __iter__(self) -> Any:
        CountingDict.walks += 1
        return super().__iter__()


def test_a_transition_never_walks_the_whole_table() -> None:
    t = MemoryJobTable()
    for n in range(2000):
        t.transition(queued(n), "p", f"d{n}", NOW)
    t._jobs = CountingDict(t._jobs)
    t._deliveries = CountingDict(t._deliveries)
    CountingDict.walks = 0
    for n in range(2000, 2100):
        t.transition(queued(n), "p", f"d{n}", NOW + n)
        t.transition(JobUpdate(n, "in_progress", LABELS, "acme/app", n, NOW), "p", None, NOW + n)
    assert CountingDict.walks == 0
    assert t.pool("p").queued == 2000 and t.pool("p").in_progress == 100
