"""Benchmark: the registrar Lambda's cold start and per-event cost.

Prints JSON with:
- `import_ms`: wall time of a fresh `python -c "import runnerfleet.controlplane.entrypoints"`
  minus a bare `python -c pass` (median of `--imports` runs): what Lambda pays before the
  first event;
- `first_event_import_ms`: what the first invocation adds (events, registrar, GitHub client,
  boto3, runnerfleet.redaction), measured the same way;
- `package_bytes` / `package_files`: the zip built without third-party dependencies;
- `decide_per_second`: `registrar.decide` over 500 instances with 3 duplicate events each
  (pure, no I/O), best of `--rounds`.

    python3 benchmarks/controlplane_cold_start.py [--imports 7] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from runnerfleet.controlplane.packaging import build_package
from runnerfleet.controlplane.registrar import (
    Facts,
    InstanceEvent,
    InstanceFact,
    RegistrarSettings,
    decide,
)

FIRST_EVENT = (
    "import runnerfleet.controlplane.entrypoints, runnerfleet.controlplane.events, "
    "runnerfleet.controlplane.registrar, runnerfleet.controlplane.compose, "
    "runnerfleet.github.client, runnerfleet.redaction, boto3"
)


def _run_ms(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return (time.perf_counter() - start) * 1000


def _median_ms(code: str, runs: int) -> float:
    return statistics.median(_run_ms(code) for _ in range(runs))


def _decide_rate(rounds: int, instances: int = 500) -> float:
    ids = [f"i-{n:017x}" for n in range(instances)]
    facts = Facts(
        instances={i: InstanceFact(i, "running", f"rf-runner-{n:03d}", "default") for n, i in
                   enumerate(ids)},
        parameters={},
        claimed=frozenset(ids[::2]),
        runners=None,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    events = [InstanceEvent(i, state=s) for i in ids for s in ("pending", "running", "running")]
    settings = RegistrarSettings(name="rf", owner="acme", repository=None)
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        actions = decide(events, facts, settings, scan=True)
        elapsed = time.perf_counter() - start
        assert len(actions) == instances // 2
        best = max(best, 1 / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imports", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    bare = _median_ms("pass", args.imports)
    handler = _median_ms("import runnerfleet.controlplane.entrypoints", args.imports)
    first = _median_ms(FIRST_EVENT, args.imports)
    with tempfile.TemporaryDirectory() as tmp:
        pkg = build_package(Path(tmp) / "registrar.zip")
    result = {
        "import_ms": round(handler - bare, 1),
        "first_event_import_ms": round(first - handler, 1),
        "python_startup_ms": round(bare, 1),
        "package_bytes": pkg.size,
        "package_files": pkg.files,
        "decide_per_second": round(_decide_rate(args.rounds), 1),
        "decide_instances": 500,
    }
    json.dump(result, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
