"""Scaler decisions: label matching, scale-out/in, protection, cooldowns, and properties."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runnerfleet.controlplane.scaler import (
    Group,
    Instance,
    Job,
    Pool,
    ProtectInstances,
    RunnerState,
    ScalerSettings,
    SetDesiredCapacity,
    Snapshot,
    TerminateInstance,
    apply,
    decide,
    match_pool,
)

NOW = 1_000_000.0
BASE = ("self-hosted", "linux", "x64")
NO_COOLDOWN = ScalerSettings(scale_out_cooldown=0, scale_in_cooldown=0, idle_grace=600)


def pool(name: str = "default", *extra: str, lo: int = 0, hi: int = 5) -> Pool:
    return Pool(name, frozenset((*BASE, *extra)), min_size=lo, max_size=hi)


def job(i: int, *labels: str, status: str = "queued", runner: str | None = None) -> Job:
    return Job(i, labels or ("self-hosted",), status, created_at=NOW - 30, runner_name=runner)


def host(
    i: int,
    *,
    pool_name: str = "default",
    state: str = "running",
    age: float = 3600,
    protected: bool = False,
) -> Instance:
    return Instance(f"i-{i:04d}", pool_name, state, NOW - age, protected, f"rf-{i}")


def snap(
    pools: list[Pool],
    jobs: list[Job],
    instances: list[Instance],
    desired: dict[str, int],
    runners: list[RunnerState] | None = None,
) -> Snapshot:
    groups = {p: Group(p, n) for p, n in desired.items()}
    return Snapshot(pools, jobs, instances, groups, NOW, runners)


# ---- label matching ----------------------------------------------------------------------
def test_match_requires_superset_and_implies_self_hosted() -> None:
    gpu, small = pool("gpu", "gpu"), pool("small")
    assert match_pool(["self-hosted", "linux"], [gpu, small]) is small  # fewest labels wins
    assert match_pool(["Self-Hosted", "GPU"], [small, gpu]) is gpu  # case-insensitive
    assert match_pool(["linux"], [Pool("bare", frozenset({"linux"}))]) is not None
    assert match_pool(["ubuntu-latest"], [gpu, small]) is None  # GitHub-hosted label
    assert match_pool(["self-hosted", "arm64"], [gpu, small]) is None
    assert match_pool([], [small]) is None


def test_pool_rejects_min_above_max() -> None:
    with pytest.raises(ValueError, match="min_size <= max_size"):
        Pool("p", frozenset(), min_size=3, max_size=2)


# ---- scale out ---------------------------------------------------------------------------
def test_queued_jobs_scale_out_up_to_max() -> None:
    s = snap([pool(hi=3)], [job(i) for i in range(5)], [], {"default": 0})
    assert decide(s, NO_COOLDOWN) == [SetDesiredCapacity("default", 3)]


def test_busy_hosts_count_and_get_protected() -> None:
    runners = [RunnerState(1, "rf-1", "online", True)]
    s = snap([pool()], [job(7)], [host(1)], {"default": 1}, runners)
    assert decide(s, NO_COOLDOWN) == [
        SetDesiredCapacity("default", 2),
        ProtectInstances("default", ("i-0001",), True),
    ]


def test_in_progress_job_marks_host_busy_without_github() -> None:
    s = snap([pool()], [job(1, status="in_progress", runner="rf-1")], [host(1)], {"default": 1})
    assert decide(s, NO_COOLDOWN) == [ProtectInstances("default", ("i-0001",), True)]


def test_static_pools_and_unmatched_jobs_do_nothing() -> None:
    static = Pool("static", frozenset(BASE), 2, 2, mode="static")
    s = snap([static], [job(1), job(2, "ubuntu-latest")], [], {"static": 2})
    assert decide(s, NO_COOLDOWN) == []


def test_min_size_is_kept_without_jobs() -> None:
    s = snap([pool(lo=2)], [], [], {"default": 0})
    assert decide(s, NO_COOLDOWN) == [SetDesiredCapacity("default", 2)]


def test_scale_out_cooldown_uses_passed_timestamps() -> None:
    s = snap([pool()], [job(1)], [], {"default": 0})
    s = replace(s, groups={"default": Group("default", 0, last_scale_out_at=NOW - 10)})
    assert decide(s, ScalerSettings(scale_out_cooldown=60)) == []
    assert decide(replace(s, now=NOW + 60), ScalerSettings(scale_out_cooldown=60)) == [
        SetDesiredCapacity("default", 1)
    ]


# ---- scale in ----------------------------------------------------------------------------
def test_idle_hosts_beyond_need_terminated_after_grace_only() -> None:
    runners = [RunnerState(i, f"rf-{i}", "online", False) for i in (1, 2, 3)]
    hosts = [host(1, age=3600), host(2, age=60), host(3, age=7200, protected=True)]
    s = snap([pool(lo=0)], [], hosts, {"default": 3}, runners)
    actions = decide(s, NO_COOLDOWN)
    assert [a for a in actions if isinstance(a, TerminateInstance)] == [
        TerminateInstance("default", "i-0003"),  # idle longest
        TerminateInstance("default", "i-0001"),
    ]
    # i-0002 is in its grace period: desired is not lowered below the live hosts
    assert not [a for a in actions if isinstance(a, SetDesiredCapacity)]


def test_busy_host_is_never_a_scale_in_victim() -> None:
    runners = [RunnerState(1, "rf-1", "online", True), RunnerState(2, "rf-2", "online", False)]
    hosts = [host(1, age=9000, protected=True), host(2, age=60)]
    s = snap([pool()], [], hosts, {"default": 2}, runners)
    assert decide(s, NO_COOLDOWN) == []  # i-0002 is within its grace; i-0001 is busy


def test_scale_in_without_github_runner_list_is_skipped() -> None:
    s = snap([pool()], [], [host(1)], {"default": 1}, runners=None)
    assert decide(s, NO_COOLDOWN) == []


def test_recently_finished_host_waits_for_grace() -> None:
    done = Job(1, ("self-hosted",), "completed", NOW - 900, "rf-1", completed_at=NOW - 30)
    runners = [RunnerState(1, "rf-1", "online", False)]
    s = snap([pool()], [done], [host(1)], {"default": 1}, runners)
    assert decide(s, NO_COOLDOWN) == []
    assert decide(replace(s, now=NOW + 600), NO_COOLDOWN) == [
        TerminateInstance("default", "i-0001")
    ]


def test_deregistered_host_terminated_without_grace() -> None:
    done = Job(1, ("self-hosted",), "completed", NOW - 60, "rf-1", completed_at=NOW - 5)
    s = snap([pool()], [done], [host(1, age=60)], {"default": 1}, runners=[])
    assert decide(s, NO_COOLDOWN) == [TerminateInstance("default", "i-0001")]


def test_unlaunched_capacity_cancelled_but_not_below_live_hosts() -> None:
    runners = [RunnerState(1, "rf-1", "online", False)]
    s = snap([pool()], [], [host(1, age=10)], {"default": 4}, runners)
    assert decide(s, NO_COOLDOWN) == [SetDesiredCapacity("default", 1)]


def test_scale_in_cooldown() -> None:
    runners = [RunnerState(1, "rf-1", "online", False)]
    s = snap([pool()], [], [host(1)], {"default": 1}, runners)
    s = replace(s, groups={"default": Group("default", 1, last_scale_in_at=NOW - 5)})
    assert decide(s, ScalerSettings(scale_in_cooldown=60)) == []


def test_idle_registered_host_is_unprotected() -> None:
    runners = [RunnerState(1, "rf-1", "online", False)]
    s = snap([pool()], [job(9)], [host(1, protected=True)], {"default": 1}, runners)
    assert decide(s, NO_COOLDOWN) == [ProtectInstances("default", ("i-0001",), False)]


# ---- properties --------------------------------------------------------------------------
LABEL_SETS = [("self-hosted",), ("self-hosted", "gpu"), ("linux", "x64"), ("ubuntu-latest",)]


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    pools = [
        Pool("default", frozenset(BASE), draw(st.integers(0, 2)), draw(st.integers(2, 6))),
        Pool("gpu", frozenset((*BASE, "gpu")), draw(st.integers(0, 1)), draw(st.integers(1, 3))),
    ]
    if draw(st.booleans()):
        pools.append(Pool("static", frozenset((*BASE, "static")), 1, 1, mode="static"))
    n_hosts = draw(st.integers(0, 8))
    hosts = [
        Instance(
            f"i-{i}",
            draw(st.sampled_from([p.name for p in pools])),
            draw(st.sampled_from(["pending", "running", "running", "terminated"])),
            NOW - draw(st.integers(0, 5000)),
            draw(st.booleans()),
            draw(st.sampled_from([None, f"rf-{i}", f"rf-{i}", f"rf-{i}"])),
        )
        for i in range(n_hosts)
    ]
    runners = None
    if draw(st.sampled_from([True, True, False])):
        runners = [
            RunnerState(
                i, f"rf-{i}", draw(st.sampled_from(["online", "offline"])), draw(st.booleans())
            )
            for i in range(n_hosts + 1)
            if draw(st.sampled_from([True, True, False]))
        ]
    jobs = [
        Job(
            100 + k,
            draw(st.sampled_from(LABEL_SETS)),
            draw(st.sampled_from(["queued", "waiting", "in_progress", "completed"])),
            NOW - draw(st.integers(0, 5000)),
            draw(st.one_of(st.none(), st.sampled_from([f"rf-{i}" for i in range(n_hosts + 1)]))),
            NOW - draw(st.integers(0, 5000)),
        )
        for k in range(draw(st.integers(0, 8)))
    ]
    groups = {
        p.name: Group(
            p.name, draw(st.sampled_from([p.max_size, p.min_size, max(p.min_size, p.max_size - 1)]))
        )
        for p in pools
        if p.mode == "autoscaled"
    }
    return Snapshot(pools, jobs, hosts, groups, NOW, runners)


def _busy_names(s: Snapshot) -> set[str]:
    busy = {j.runner_name for j in s.jobs if j.status == "in_progress" and j.runner_name}
    busy |= {r.name for r in s.runners or [] if r.busy}
    return busy


@settings(max_examples=100, deadline=None)
@given(snapshots(), st.sampled_from([NO_COOLDOWN, ScalerSettings(), ScalerSettings(idle_grace=0)]))
def test_properties_bounds_busy_and_idempotence(s: Snapshot, cfg: ScalerSettings) -> None:
    actions = decide(s, cfg)
    pools = {p.name: p for p in s.pools}
    hosts = {i.id: i for i in s.instances}
    busy = _busy_names(s)
    for a in actions:
        assert pools[a.pool].mode == "autoscaled", "static pools are never touched"
        if isinstance(a, SetDesiredCapacity):
            assert pools[a.pool].min_size <= a.desired <= pools[a.pool].max_size
        if isinstance(a, TerminateInstance):
            assert hosts[a.instance_id].runner_name not in busy, "busy host terminated"
            assert hosts[a.instance_id].pool == a.pool
    # never leave fewer than min_size in the group through terminations
    for name, g in apply(s, actions).groups.items():
        assert g.desired >= pools[name].min_size
    # idempotent: acting on the decision and deciding again changes nothing
    again = apply(s, actions)
    assert decide(again, NO_COOLDOWN if cfg == NO_COOLDOWN else cfg) == []


# ---- issue 13.4: hot idle runners per pool -------------------------------------------------
def test_hot_pool_keeps_its_idle_runners_and_scale_in_leaves_them() -> None:
    hot = replace(pool(lo=0, hi=6), idle=2)
    # nothing queued, nothing running: the pool still wants its two hot runners
    assert decide(snap([hot], [], [], {"default": 0}), NO_COOLDOWN) == [
        SetDesiredCapacity("default", 2)
    ]
    # three queued jobs: busy + queued + idle, so two stay waiting when they start
    jobs = [job(i) for i in range(3)]
    assert decide(snap([hot], jobs, [], {"default": 2}), NO_COOLDOWN) == [
        SetDesiredCapacity("default", 5)
    ]
    # four idle hosts long past their grace: scale-in terminates two, keeps two hot
    runners = [RunnerState(i, f"rf-{i}", "online", False) for i in (1, 2, 3, 4)]
    hosts = [host(i, age=7200) for i in (1, 2, 3, 4)]
    actions = decide(snap([hot], [], hosts, {"default": 4}, runners), NO_COOLDOWN)
    assert len([a for a in actions if isinstance(a, TerminateInstance)]) == 2
    assert Pool("p", frozenset(), idle=0).idle == 0
    with pytest.raises(ValueError, match="idle"):
        Pool("p", frozenset(), idle=-1)


def test_webhook_fast_path_uses_the_same_rule() -> None:
    from runnerfleet.controlplane.scaler import scale_out

    hot = replace(pool(lo=0, hi=6), idle=1)
    assert scale_out(hot, Group("default", 0), 0, 1, NO_COOLDOWN, NOW) == SetDesiredCapacity(
        "default", 2
    )
    assert scale_out(hot, Group("default", 2), 0, 1, NO_COOLDOWN, NOW) is None  # never lowers
    cooling = ScalerSettings(scale_out_cooldown=60)
    assert scale_out(hot, Group("default", 0, NOW - 10), 0, 1, cooling, NOW) is None
