"""Run every benchmark and print one JSON document.

Each benchmark runs as its own process (`python3 benchmarks/<name>.py`, with its defaults
unless `--quick`), one after the other so they do not compete for the cores; its JSON
output goes under its name, with its exit status and wall time. `sandbox_up.py` (minutes:
real Terraform against the sandbox) runs only with `--with-sandbox`. A benchmark that fails
or prints no JSON is reported with its stderr tail and makes the exit status 1; the others
still run.

    python3 benchmarks/run_all.py [--with-sandbox] [--quick] [--only name,name]
        [--timeout 1800]

`--quick` shrinks the sizes (for a smoke run; the numbers are not the README's).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# name -> (arguments with the defaults, arguments with --quick)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "webhook_intake": ([], ["--jobs", "500", "--rounds", "1"]),
    "webhook_handling": ([], ["--sizes", "0,1000", "--jobs", "30", "--burst", "30"]),
    "reconcile_scale": ([], ["--sizes", "200,1000"]),
    "trace_replay": ([], ["--jobs", "100", "--models", "hot"]),
    "scaler_decisions": ([], ["--rounds", "3", "--imports", "2"]),
    "controlplane_cold_start": ([], ["--imports", "2", "--rounds", "3"]),
}
SANDBOX = "sandbox_up"


def run(name: str, args: list[str], timeout: float) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(HERE / f"{name}.py"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s", "args": args}
    out: dict[str, Any] = {
        "ok": proc.returncode == 0,
        "exit_status": proc.returncode,
        "args": args,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    try:
        out["result"] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        out["ok"] = False
        out["stdout_tail"] = proc.stdout[-2000:]
    if not out["ok"]:
        out["stderr_tail"] = proc.stderr[-3000:]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--with-sandbox", action="store_true", help="also run sandbox_up.py")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    ap.add_argument("--only", default="", help="comma-separated benchmark names")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    args = ap.parse_args(argv)
    names = list(BENCHMARKS) + ([SANDBOX] if args.with_sandbox else [])
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in (*BENCHMARKS, SANDBOX)]
        if unknown:
            ap.error(f"unknown benchmark(s) {unknown}; known: {[*BENCHMARKS, SANDBOX]}")
        names = [n for n in names if n in wanted]
    started = time.time()
    report: dict[str, Any] = {}
    for name in names:
        full, quick = BENCHMARKS.get(name, ([], []))
        print(f"running {name} ...", file=sys.stderr, flush=True)
        report[name] = run(name, quick if args.quick else full, args.timeout)
    doc = {
        "benchmark": "run_all",
        "quick": args.quick,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "python": sys.version.split()[0],
        "ok": all(r["ok"] for r in report.values()),
        "results": report,
    }
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
