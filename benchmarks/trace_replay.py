"""Benchmark: replay a job trace through the real control plane in compressed time.

A discrete-event replay on a virtual clock: jobs arrive as a Poisson process with bursts, on
two label pools, each running 1-10 minutes. The GitHub emulator queues them and produces the
`workflow_job` deliveries; the webhook processor, the registrar and the reconcile pass (every
60 s, as the EventBridge schedule runs it) are the project's own, built by
`runnerfleet.controlplane.compose` on moto (in process). What AWS and a host would do is
played by the benchmark: an instance the Auto Scaling group launches is handed to the
registrar as EventBridge's state-change event, boots for the boot model's time, reads its
registration from SSM, connects its JIT runner to the emulator, takes a job, completes it,
and (ephemeral) terminates itself as the agent does; a terminated instance's event goes to
the registrar.

Boot models: `cold` (26 s from launch to a listening runner, an EC2 cold boot with the
runner preinstalled), `warm` (8 s: a warm-pool instance resumed from stopped; moto has no
warm pools, so this is the boot time alone), `hot` (cold boots, plus `--idle` runners per
pool kept registered and waiting by the scaler).

Prints JSON per model: GitHub calls per job by endpoint (calls that count against the rate
limit; 304 answers listed apart), AWS calls per job by operation, pickup (queued -> started)
p50/p95/p99 in virtual seconds, jobs unserved at the end, and the wall time of the replay.

moto's TransactWriteItems (a deep copy of the whole table per call) and EC2 tag lookups are
made per item (runnerfleet.strictaws.motocosts, same answers); `--moto-as-is` keeps moto's own.

    python3 benchmarks/trace_replay.py [--jobs 1000] [--models cold,warm,hot] [--idle 4]
        [--drop 0.0] [--seed 7] [--moto-as-is]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from world import OWNER, World, percentile, world

from runnerfleet.controlplane.registrar import InstanceEvent
from runnerfleet.github.emulator_runner import decode_jit_config
from runnerfleet.strictaws.motocosts import per_item_costs

POOLS = {"small": ["linux"], "big": ["linux", "big"]}
JOB_LABELS = {"small": ["self-hosted", "linux"], "big": ["self-hosted", "linux", "big"]}
BOOT = {"cold": 26.0, "warm": 8.0, "hot": 26.0}
RECONCILE_EVERY = 60.0
REPO = "app"


@dataclass
class Host:
    instance_id: str
    pool: str
    launched_at: float
    runner: Any = None  # the emulator's runner record once online
    job_id: int | None = None
    gone: bool = False


@dataclass
class Replay:
    w: World
    boot: float
    drop: float
    dup: float
    rnd: random.Random
    events: list[tuple[float, int, str, Any]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    hosts: dict[str, Host] = field(default_factory=dict)
    fed: int = 0
    arrived: dict[int, float] = field(default_factory=dict)
    duration: dict[int, float] = field(default_factory=dict)
    started: dict[int, float] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)
    failures: Counter[str] = field(default_factory=Counter)

    def at(self, when: float, kind: str, data: Any = None) -> None:
        heapq.heappush(self.events, (when, next(self.seq), kind, data))

    # ---- GitHub -> webhook function --------------------------------------------------
    def feed(self) -> None:
        deliveries = list(self.w.emulator.deliveries.values())
        for d in deliveries[self.fed :]:
            if self.rnd.random() < self.drop:
                continue
            times = 2 if self.rnd.random() < self.dup else 1
            for _ in range(times):
                reply = self.w.plane.processor.handle(self.w.signed(d.body, d.id), d.body)
                if reply.status >= 500:
                    self.failures["webhook 5xx"] += 1
        self.fed = len(deliveries)

    # ---- EC2/ASG -> registrar (EventBridge) ------------------------------------------
    def sync_instances(self) -> None:
        groups = self.w.raw("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        live: dict[str, str] = {}
        for g in groups:
            pool = g["AutoScalingGroupName"].split("-", 1)[1]
            for inst in g.get("Instances", []):
                if inst["LifecycleState"] in ("Pending", "InService"):
                    live[inst["InstanceId"]] = pool
        for iid, pool in live.items():
            if iid not in self.hosts:
                self.hosts[iid] = Host(iid, pool, self.w.clock.now)
                self.registrar([InstanceEvent(iid, "running")])
                self.at(self.w.clock.now + self.boot, "online", iid)
        for iid, host in self.hosts.items():
            if not host.gone and iid not in live:
                host.gone = True
                self.registrar([InstanceEvent(iid, "terminated")])

    def registrar(self, events: list[InstanceEvent]) -> None:
        report = self.w.plane.registrar.handle(events)
        if not report.ok:
            self.failures["registrar"] += 1

    # ---- hosts ----------------------------------------------------------------------
    def online(self, iid: str) -> None:
        host = self.hosts[iid]
        if host.gone:
            return
        try:
            raw = self.w.raw("ssm").get_parameter(
                Name=f"/{self.w.plane.settings.name}/runners/{iid}", WithDecryption=True
            )["Parameter"]["Value"]
        except self.w.raw("ssm").exceptions.ParameterNotFound:
            self.at(self.w.clock.now + 5.0, "online", iid)  # the agent waits for it
            return
        credential = decode_jit_config(json.loads(raw)["secret"])["credential"]
        world = self.w.emulator.world
        with world.lock:
            host.runner = world.connect_jit(credential)
        self.w.raw("ssm").delete_parameter(Name=f"/{self.w.plane.settings.name}/runners/{iid}")

    def match(self) -> None:
        world = self.w.emulator.world
        for host in self.hosts.values():
            if host.gone or host.runner is None or host.job_id is not None:
                continue
            if host.runner.id not in world.runners:
                continue
            with world.lock:
                job = world.poll(host.runner)
                if job is None:
                    continue
                world.start(host.runner, job.id)
                self.w.emulator._drain_events()
            host.job_id = job.id
            self.started[job.id] = self.w.clock.now
            self.at(self.w.clock.now + self.duration[job.id], "finish", host.instance_id)

    def finish(self, iid: str) -> None:
        host = self.hosts[iid]
        world = self.w.emulator.world
        assert host.job_id is not None
        with world.lock:
            world.complete(host.runner, host.job_id, "success")
            self.w.emulator._drain_events()
        self.finished.add(host.job_id)
        host.job_id, host.runner = None, None
        asg = self.w.raw("autoscaling")
        group = asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[f"{self.w.plane.settings.name}-{host.pool}"]
        )["AutoScalingGroups"][0]
        # the agent's rule: decrement only above the group's minimum (AWS refuses at min)
        asg.terminate_instance_in_auto_scaling_group(
            InstanceId=iid,
            ShouldDecrementDesiredCapacity=group["DesiredCapacity"] > group["MinSize"],
        )

    # ---- the loop -------------------------------------------------------------------
    def run(self, arrivals: list[tuple[float, str, float]], horizon: float) -> None:
        start = self.w.clock.now
        for offset, pool, duration in arrivals:
            self.at(start + offset, "arrive", (pool, duration))
        self.at(start, "reconcile")
        end = start + horizon
        while self.events:
            when, _, kind, data = heapq.heappop(self.events)
            if when > end:
                break
            self.w.clock.now = when
            if kind == "arrive":
                pool, duration = data
                job_id = self.w.emulator.enqueue_job(OWNER, REPO, JOB_LABELS[pool])
                self.arrived[job_id], self.duration[job_id] = when, duration
            elif kind == "online":
                self.online(data)
            elif kind == "finish":
                self.finish(data)
            elif kind == "reconcile":
                self.w.expire()
                _, outcomes = self.w.plane.reconciler.run()
                self.failures["reconcile action"] += sum(1 for o in outcomes if not o.ok)
                if len(self.finished) < len(arrivals):
                    self.at(when + RECONCILE_EVERY, "reconcile")
            self.feed()
            self.sync_instances()
            self.match()
            self.feed()
            if len(self.finished) == len(arrivals):
                break


def trace(n: int, seed: int) -> list[tuple[float, str, float]]:
    """Poisson arrivals (mean 10 s apart: a busy fleet in steady state) with a burst of 12
    jobs within a minute about every 100 arrivals."""
    rnd = random.Random(seed)
    out: list[tuple[float, str, float]] = []
    t = 0.0
    while len(out) < n:
        if rnd.random() < 0.01:
            out += [
                (t + rnd.uniform(0, 60), rnd.choice(list(POOLS)), rnd.uniform(60, 600))
                for _ in range(min(12, n - len(out)))
            ]
        else:
            t += rnd.expovariate(1 / 10)
            out.append((t, rnd.choice(list(POOLS)), rnd.uniform(60, 600)))
    return sorted(out)[:n]


def replay(
    model: str, n: int, idle: int, drop: float, dup: float, seed: int, moto_as_is: bool = False
) -> dict[str, Any]:
    arrivals = trace(n, seed)
    wall = time.perf_counter()
    pools_idle = {p: idle for p in POOLS} if model == "hot" else {}
    with per_item_costs(not moto_as_is), world(POOLS, idle=pools_idle) as w:
        w.github.reset_stats()
        r = Replay(w, BOOT[model], drop, dup, random.Random(seed + 1))
        r.run(arrivals, horizon=arrivals[-1][0] + 4 * 3600)
        stats = w.github.stats()
        pickup = [r.started[j] - r.arrived[j] for j in r.started]
        jobs = len(arrivals)
        return {
            "model": model,
            "jobs": jobs,
            "idle_per_pool": idle if model == "hot" else 0,
            "boot_seconds": BOOT[model],
            "webhook_drop": drop,
            "webhook_dup": dup,
            "github_calls_per_job": round(stats.counted / jobs, 3),
            "github_calls_by_endpoint": dict(sorted(stats.calls.items())),
            "github_not_modified_by_endpoint": dict(sorted(stats.not_modified.items())),
            "aws_calls_per_job": round(w.aws_calls.total / jobs, 2),
            "aws_calls_by_operation": dict(sorted(w.aws_calls.by_op.items())),
            "pickup_seconds": {
                "p50": percentile(pickup, 50),
                "p95": percentile(pickup, 95),
                "p99": percentile(pickup, 99),
            },
            "unserved": jobs - len(r.finished),
            "failures": dict(r.failures),
            "moto_costs": "as is" if moto_as_is else "per item (strictaws.motocosts)",
            "replay_wall_seconds": round(time.perf_counter() - wall, 1),
        }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--models", default="cold,warm,hot")
    ap.add_argument("--idle", type=int, default=8, help="hot runners per pool (hot model)")
    ap.add_argument("--drop", type=float, default=0.0, help="share of webhooks lost")
    ap.add_argument("--dup", type=float, default=0.0, help="share of webhooks delivered twice")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--moto-as-is",
        action="store_true",
        help="keep moto's whole-table transaction copies and tag scans (strictaws.motocosts)",
    )
    args = ap.parse_args(argv)
    results = [
        replay(m.strip(), args.jobs, args.idle, args.drop, args.dup, args.seed, args.moto_as_is)
        for m in args.models.split(",")
        if m.strip()
    ]
    print(json.dumps({"benchmark": "trace_replay", "results": results}, indent=2))


if __name__ == "__main__":
    main()
