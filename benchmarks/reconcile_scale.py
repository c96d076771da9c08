"""Benchmark: one reconcile pass (`plane.reconciler.run()`) over a large fleet.

The world is benchmarks/world.py (moto in process, the GitHub emulator, the control plane
built by `runnerfleet.controlplane.compose` on counted clients). For each size in `--sizes`
(default 1,000 and 5,000 runners), a fresh world gets two pools whose Auto Scaling groups hold
half the instances each (moto launches them when the desired capacity is set), and one
GitHub runner per instance, named as the registrar names it (`<name>-runner-<pool>-<id>`),
online, `--busy` of them running a job. The runners are written straight into the emulator's
state (registering 5,000 runners through the API would only time the emulator). The job
table is empty, no registration parameters are left.

Then `--passes` passes (default 4), each timed (wall and this thread's CPU) with GitHub's
calls counted (those that count against the rate limit, and the 304 answers to conditional
requests apart) and AWS calls by operation:
1. the first pass the control plane makes in this process (cold caches: installation
   token, ETags, the fleet's view of EC2); it protects the busy hosts from scale-in. Hosts
   of online runners are known from their groups and the runner list, not described;
2. a second pass with nothing changed in between: it describes the hosts whose runners are
   idle (their launch time, for the scaler's idle time), at most 500 a pass
   (`fleet.INFERRED_BATCH`; runnerfleet.controlplane.fleet);
3. later passes with nothing changed (`later_passes_nothing_changed`): the rest of the idle
   hosts, then the steady state.

    python3 benchmarks/reconcile_scale.py [--sizes 1000,5000] [--busy 0.8] [--passes 4]
        [--profile] [--moto-as-is]

moto's EC2 tag lookups are made per resource (runnerfleet.strictaws.motocosts; `--moto-as-is` keeps
moto's O(n^2) DescribeInstances). Each pass reports the time inside botocore (moto
included) by operation, inside the GitHub client's HTTP calls (the emulator included) and
the rest (`own_seconds`: the control plane's own work).

`--profile` prints the top functions of each pass by cumulative time (cProfile) to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook_handling import timed_sdk
from world import NAME, OWNER, World, world

from runnerfleet.github.emulator.state import RunnerRec
from runnerfleet.strictaws.motocosts import per_item_costs
from runnerfleet.vocabulary import pool_runner_name

POOLS = {"small": ["linux"], "big": ["linux", "big"]}
TARGET_SECONDS = 10.0
TARGET_CALLS = 60


def populate(w: World, n: int, busy: float, seed: int) -> int:
    """n instances across the pools' groups, one online runner each; returns hosts made."""
    rnd = random.Random(seed)
    asg = w.raw("autoscaling")
    per_pool = {p: n // len(POOLS) + (1 if i < n % len(POOLS) else 0) for i, p in
                enumerate(POOLS)}  # fmt: skip
    state = w.emulator.world
    made = 0
    for pool, count in per_pool.items():
        group = f"{NAME}-{pool}"
        asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=count)
        described = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        ids = [i["InstanceId"] for i in described["AutoScalingGroups"][0]["Instances"]]
        with state.lock:
            for iid in ids:
                rec = RunnerRec(
                    state.new_id("runner", 1),
                    pool_runner_name(NAME, pool, iid),
                    OWNER,
                    None,
                    ["self-hosted", "linux", "x64", *POOLS[pool]],
                    True,
                    status="online",
                    busy=rnd.random() < busy,
                )
                state.runners[rec.id] = rec
        made += len(ids)
    return made


def one_pass(w: World, profile: bool, label: str) -> dict[str, Any]:
    w.github.reset_stats()
    aws_before = w.aws_calls.total
    ops_before = dict(w.aws_calls.by_op)
    prof = cProfile.Profile() if profile else None
    http = w.github._http
    real_request = http.request
    in_github = [0.0]

    def request(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return real_request(*a, **kw)
        finally:
            in_github[0] += time.perf_counter() - t

    with timed_sdk() as sdk, mock.patch.object(http, "request", request):
        start, start_cpu = time.perf_counter(), time.thread_time()
        if prof is not None:
            prof.enable()
        plan, outcomes = w.plane.reconciler.run()
        if prof is not None:
            prof.disable()
        wall, cpu = time.perf_counter() - start, time.thread_time() - start_cpu
    stats = w.github.stats()
    if prof is not None:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
        print(f"---- profile: {label}\n{out.getvalue()}", file=sys.stderr)
    kinds: dict[str, int] = {}
    for a in plan.actions:
        kinds[type(a).__name__] = kinds.get(type(a).__name__, 0) + 1
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "github_calls": stats.counted,
        "github_not_modified": stats.free,
        "github_calls_by_endpoint": dict(sorted(stats.calls.items())),
        "github_not_modified_by_endpoint": dict(sorted(stats.not_modified.items())),
        "aws_calls": w.aws_calls.total - aws_before,
        "aws_calls_by_operation": {
            op: n - ops_before.get(op, 0)
            for op, n in sorted(w.aws_calls.by_op.items())
            if n - ops_before.get(op, 0)
        },
        "inside_aws_sdk_seconds": round(sdk.inside, 2),
        "inside_aws_sdk_seconds_by_operation": {
            op: round(v, 2) for op, v in sorted(sdk.op_seconds.items())
        },
        "inside_github_http_seconds": round(in_github[0], 2),
        "own_seconds": round(wall - sdk.inside - in_github[0], 2),
        "actions": dict(sorted(kinds.items())),
        "failed_actions": sum(1 for o in outcomes if not o.ok),
        "findings": len(plan.findings),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,5000", help="runners (= instances) per world")
    ap.add_argument("--busy", type=float, default=0.8, help="share of runners running a job")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--passes", type=int, default=4, help="passes per world (at least 2)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument(
        "--moto-as-is",
        action="store_true",
        help="keep moto's O(n^2) DescribeInstances tag lookups (runnerfleet.strictaws.motocosts)",
    )
    args = ap.parse_args(argv)
    results = []
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        wall = time.perf_counter()
        with (
            world(POOLS, max_size=size, github_sync_seconds=0) as w,
            per_item_costs(not args.moto_as_is),
        ):
            setup = time.perf_counter()
            hosts = populate(w, size, args.busy, args.seed)
            setup_seconds = time.perf_counter() - setup
            first = one_pass(w, args.profile, f"{size} first")
            second = one_pass(w, args.profile, f"{size} second")
            later = [one_pass(w, args.profile, f"{size} pass {n}") for n in
                     range(3, max(2, args.passes) + 1)]  # fmt: skip
        passes = (first, second, *later)
        results.append(
            {
                "runners": size,
                "instances": hosts,
                "busy_share": args.busy,
                "first_pass": first,
                "second_pass_nothing_changed": second,
                "later_passes_nothing_changed": later,
                "setup_seconds": round(setup_seconds, 1),
                "world_wall_seconds": round(time.perf_counter() - wall, 1),
                "target_met": all(
                    p["wall_seconds"] <= TARGET_SECONDS and p["github_calls"] <= TARGET_CALLS
                    for p in passes
                ),
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "reconcile_scale",
                "results": results,
                "targets": {"wall_seconds_max": TARGET_SECONDS, "github_calls_max": TARGET_CALLS},
                "moto_costs": "as is" if args.moto_as_is else "per item (strictaws.motocosts)",
            },
            indent=2,
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
