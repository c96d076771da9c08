"""Benchmark: scaler decision speed and the webhook handler's import cost (Lambda cold start).

Prints JSON with:
- `decisions_per_second` for one `scaler.decide` over 1,000 jobs (mixed labels and states)
  x 200 instances x 4 pools, with GitHub's runner list (the reconcile path) and without it
  (the webhook fast path), best of several rounds;
- `reconcile_decisions_per_second`: `reconciler.decide` + the scaler on the same facts;
- `import_ms`: wall time of a fresh `python -c "import runnerfleet.controlplane.
  webhook_handler"` minus a bare `python -c pass` (median of `--imports` runs), and the
  same for what the first invocation adds (boto3 and runnerfleet.ui for log redaction).

    python3 benchmarks/scaler_decisions.py [--jobs 1000] [--instances 200] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time

from runnerfleet.controlplane import reconciler, scaler
from runnerfleet.controlplane.fleet import GroupInfo, HostInfo

NOW = 1_800_000_000.0
POOLS = [
    scaler.Pool("default", frozenset({"linux", "x64"}), 0, 100),
    scaler.Pool("big", frozenset({"linux", "x64", "big"}), 0, 50),
    scaler.Pool("gpu", frozenset({"linux", "x64", "gpu"}), 0, 30),
    scaler.Pool("arm", frozenset({"linux", "arm64"}), 0, 20),
]
LABELS = [
    ("self-hosted",),
    ("self-hosted", "linux"),
    ("self-hosted", "linux", "big"),
    ("self-hosted", "gpu"),
    ("self-hosted", "ARM64"),
    ("ubuntu-latest",),
]


def world(n_jobs: int, n_instances: int, seed: int = 7) -> reconciler.Facts:
    rnd = random.Random(seed)
    hosts = []
    runners = []
    for i in range(n_instances):
        pool = POOLS[i % len(POOLS)].name
        name = f"rf-runner-{pool}-i-{i:05d}"
        state = rnd.choice(["pending", "running", "running", "running", "shutting-down"])
        inst = scaler.Instance(
            f"i-{i:05d}", pool, state, NOW - rnd.randint(0, 7200), rnd.random() < 0.4, name
        )
        hosts.append(HostInfo(inst, f"rf-{pool}"))
        if rnd.random() < 0.8:
            runners.append(scaler.RunnerState(i, name, "online", rnd.random() < 0.5))
    statuses = ["queued", "queued", "in_progress", "completed"]
    jobs = [
        scaler.Job(
            10_000 + k,
            rnd.choice(LABELS),
            rnd.choice(statuses),
            NOW - rnd.randint(0, 3600),
            f"rf-runner-{POOLS[k % len(POOLS)].name}-i-{rnd.randrange(n_instances):05d}",
            NOW - rnd.randint(0, 3600),
            "acme/app",
        )
        for k in range(n_jobs)
    ]
    groups = {p.name: GroupInfo(f"rf-{p.name}", p.name, p.min_size, p.max_size, 10) for p in POOLS}
    return reconciler.Facts(POOLS, hosts, runners, {}, jobs, groups, NOW)


def _rate(fn: object, rounds: int) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1.0 / best


def _python_ms(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--imports", type=int, default=5)
    args = ap.parse_args()

    facts = world(args.jobs, args.instances)
    snap = facts.snapshot()
    fast = scaler.Snapshot(snap.pools, snap.jobs, snap.instances, snap.groups, NOW, None)
    settings = reconciler.ReconcilerSettings("rf")
    full_actions = scaler.decide(snap)

    bare = _python_ms("pass", args.imports)
    handler = _python_ms("import runnerfleet.controlplane.webhook_handler", args.imports)
    first_call = _python_ms(
        "import runnerfleet.controlplane.webhook_handler, boto3, runnerfleet.ui", args.imports
    )
    print(
        json.dumps(
            {
                "jobs": args.jobs,
                "instances": args.instances,
                "pools": len(POOLS),
                "decisions_per_second": round(_rate(lambda: scaler.decide(snap), args.rounds), 1),
                "fast_path_decisions_per_second": round(
                    _rate(lambda: scaler.decide(fast), args.rounds), 1
                ),
                "reconcile_decisions_per_second": round(
                    _rate(
                        lambda: reconciler.with_scaler(
                            reconciler.decide(facts, settings), facts, scaler.ScalerSettings()
                        ),
                        args.rounds,
                    ),
                    1,
                ),
                "actions_in_decision": len(full_actions),
                "import_ms": {
                    "python_bare": round(bare, 1),
                    "webhook_handler": round(handler - bare, 1),
                    "webhook_handler_plus_first_call": round(first_call - bare, 1),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
