"""Benchmark: webhook intake (verify + parse + dedupe), events/s on one core.

What is measured, per event, in one process and one thread (so events/s is per core):
`WebhookProcessor.handle(headers, body)` of runnerfleet.controlplane.webhook_handler with an
in-memory job table (`MemoryJobTable`) and no fleet (`fleet=None`: record only), i.e. the
real intake path up to the point where the webhook would call AWS: header normalisation,
the 25 MB size check, `runnerfleet.github.webhooks.verify_signature` (HMAC-SHA256 over the
raw body), the event and delivery-id checks, `parse_workflow_job` (strict JSON parse),
`match_pool`, `JobUpdate.from_event` and `MemoryJobTable.transition` (the delivery-id dedupe
and the job's status transition with its pool counters, under the table's lock). No AWS,
no network, no scaling decision.

The bodies are the GitHub emulator's own `workflow_job` payloads (about 6.5 KB, the shape
GitHub sends), one per (job, action): `queued`, `in_progress`, `completed` for each job,
in that order, plus `--dup` of them delivered a second time (answered 200 duplicate). All
bodies are built and signed before the clock starts.

Prints JSON: `events_per_second` over the whole stream (best of `--rounds`, a fresh table
each round; wall time) and `events_per_cpu_second` (this thread's CPU time, what one core
does on a shared machine: the target is judged on it), wall events/s for the first and the
last 10% of the stream (intake must not slow down as the table fills), and the parts alone
(`verify_signature`, `parse_workflow_job`, `MemoryJobTable.transition`) in events/s.

    python3 benchmarks/webhook_intake.py [--jobs 3000] [--dup 0.1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import payloads

from runnerfleet.controlplane.job_table import JobUpdate, MemoryJobTable
from runnerfleet.controlplane.scaler import build_pools
from runnerfleet.controlplane.webhook_handler import WebhookProcessor
from runnerfleet.github import webhooks

SECRET = "bench-webhook-secret-value"
POOLS = {"small": ("linux",), "big": ("linux", "big")}
LABELS = [["self-hosted", "linux"], ["self-hosted", "linux", "big"]]

Event = tuple[dict[str, str], bytes]


def _signed(body: bytes, delivery: str) -> dict[str, str]:
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "workflow_job",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sig,
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/bench",
    }


def stream(jobs: int, dup: float, seed: int) -> list[Event]:
    """queued, in_progress, completed per job (bodies and signatures made up front)."""
    rnd = random.Random(seed)
    tpl = payloads.templates(SECRET)
    events: list[Event] = []
    for n in range(jobs):
        for action in ("queued", "in_progress", "completed"):
            body = payloads.body(tpl, action, 1_000_000 + n, LABELS[n % 2])
            events.append((_signed(body, str(uuid.UUID(int=rnd.getrandbits(128)))), body))
    for k in sorted(rnd.sample(range(len(events)), int(len(events) * dup)), reverse=True):
        events.insert(k + 1, events[k])  # a redelivery right after the original
    return events


def processor() -> WebhookProcessor:
    return WebhookProcessor(
        secret=SECRET, jobs=MemoryJobTable(), pools=build_pools("autoscaled", (), POOLS), fleet=None
    )


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def _best(fn: Callable[[], float], rounds: int) -> float:
    return min(fn() for _ in range(rounds))


def run_handle(events: Sequence[Event]) -> tuple[float, float, list[float], dict[int, int]]:
    """Wall and CPU seconds for the whole stream, per-event wall seconds, replies by status."""
    p = processor()
    per: list[float] = []
    statuses: dict[int, int] = {}
    clock = time.perf_counter
    start, start_cpu = clock(), time.thread_time()
    for headers, body in events:
        t = clock()
        reply = p.handle(headers, body)
        per.append(clock() - t)
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
    return clock() - start, time.thread_time() - start_cpu, per, statuses


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=3000, help="jobs (3 events each)")
    ap.add_argument("--dup", type=float, default=0.1, help="share of events delivered twice")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    events = stream(args.jobs, args.dup, args.seed)
    n = len(events)
    tenth = max(1, n // 10)

    best_total, best_cpu, best_per, statuses = float("inf"), float("inf"), [], {}
    for _ in range(args.rounds):
        total, cpu, per, got = run_handle(events)
        best_cpu = min(best_cpu, cpu)
        if total < best_total:
            best_total, best_per, statuses = total, per, got
    if statuses.get(200, 0) != n:
        raise SystemExit(f"intake answered {statuses}, expected {n} x 200")

    def verify() -> float:
        start = time.perf_counter()
        for h, b in events:
            webhooks.verify_signature(SECRET, b, h["X-Hub-Signature-256"])
        return time.perf_counter() - start

    def parse() -> float:
        start = time.perf_counter()
        for _, b in events:
            webhooks.parse_workflow_job(b, event="workflow_job")
        return time.perf_counter() - start

    parsed = [
        (JobUpdate.from_event(webhooks.parse_workflow_job(b), 0.0), h["X-GitHub-Delivery"])
        for h, b in events
    ]

    def dedupe() -> float:
        table = MemoryJobTable()
        start = time.perf_counter()
        for update, delivery in parsed:
            table.transition(update, "small", delivery, 1_800_000_000.0)
        return time.perf_counter() - start

    result = {
        "benchmark": "webhook_intake",
        "measured": (
            "WebhookProcessor.handle with MemoryJobTable and fleet=None: size check, "
            "verify_signature, header checks, parse_workflow_job, match_pool, "
            "JobUpdate.from_event, MemoryJobTable.transition (delivery dedupe + job and pool "
            "counters); one thread, so events/s is per core"
        ),
        "events": n,
        "jobs": args.jobs,
        "duplicates": n - 3 * args.jobs,
        "body_bytes_mean": round(sum(len(b) for _, b in events) / n),
        "events_per_second": _rate(n, best_total),
        "events_per_cpu_second": _rate(n, best_cpu),
        "events_per_second_first_10pct": _rate(tenth, sum(best_per[:tenth])),
        "events_per_second_last_10pct": _rate(tenth, sum(best_per[-tenth:])),
        "per_event_us": {
            "p50": round(sorted(best_per)[n // 2] * 1e6, 1),
            "p99": round(sorted(best_per)[min(n - 1, int(n * 0.99))] * 1e6, 1),
        },
        "parts_events_per_second": {
            "verify_signature": _rate(n, _best(verify, args.rounds)),
            "parse_workflow_job": _rate(n, _best(parse, args.rounds)),
            "memory_job_table_transition": _rate(n, _best(dedupe, args.rounds)),
        },
        "target_events_per_second_per_core": 2000,
        "python": sys.version.split()[0],
    }
    result["target_met"] = result["events_per_cpu_second"] >= 2000
    result["target_judged_on"] = "events_per_cpu_second (this thread's CPU time: per core)"
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
