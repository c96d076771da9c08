"""The scaler: how many runner hosts each pool needs, decided from data alone.

`decide(snapshot, settings)` is pure (no I/O, no clock: `snapshot.now` is the time) and
returns actions that `runnerfleet.controlplane.fleet` performs:

- `SetDesiredCapacity(pool, n)`: an autoscaled pool's ASG should hold n instances.
- `ProtectInstances(pool, ids, on)`: busy hosts are protected from ASG scale-in; hosts whose
  runner is registered and idle are unprotected again.
- `TerminateInstance(pool, id, reason)`: an idle host beyond what the pool needs, terminated
  explicitly (decrementing the ASG's desired capacity), so the ASG never chooses a victim.

Rules
- A job goes to a pool whose label set contains every label of the job, compared without
  case (GitHub's rule); `self-hosted` is implied for every pool. When several pools fit, the
  one with the fewest labels wins (the most specific fit), then the first defined.
- A pool needs `busy hosts + queued jobs + idle` (its hot runners kept registered and
  waiting), clamped to [min_size, max_size] (`need`, the one place this is computed). Static
  pools are left alone (Terraform owns their size). The webhook fast path (`scale_out`)
  applies the same rule to the pool's counters (busy = jobs in progress) and only raises.
- A host is busy when GitHub says its runner is busy or the job table has an in-progress job
  on it. Busy hosts are never terminated.
- Scale-in terminates only hosts that are running, not busy, and either deregistered (their
  runner ran a job and is gone) or idle for `idle_grace` seconds (idle since launch or since
  their last completed job). It needs GitHub's runner list (`snapshot.runners`); without it
  (the webhook fast path) the scaler only scales out and protects.
- The desired capacity is never lowered below the number of live hosts, so the ASG itself
  never picks an instance to terminate.
- Cooldowns: no scale-out within `scale_out_cooldown` seconds of the last one, no scale-in
  within `scale_in_cooldown` of the last one (timestamps come in with the pool's `Group`).

Applying the actions to the snapshot (`apply`) and deciding again yields no actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from runnerfleet.vocabulary import LIVE_STATES

QUEUED_STATES = frozenset({"queued", "waiting"})
IMPLIED_LABEL = "self-hosted"

PoolMode = Literal["static", "autoscaled"]


def normalize_labels(labels: Iterable[str]) -> frozenset[str]:
    """Labels as GitHub compares them: case-insensitive, surrounding blanks ignored."""
    return frozenset(lbl.strip().lower() for lbl in labels if lbl.strip())


# ---- inputs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pool:
    """A runner pool: the labels its runners carry and its size bounds."""

    name: str
    labels: frozenset[str]
    min_size: int = 0
    max_size: int = 5
    mode: PoolMode = "autoscaled"
    ephemeral: bool = False
    idle: int = 0  # hot runners kept registered and waiting (scale-in leaves them)

    def __post_init__(self) -> None:
        if self.idle < 0:
            raise ValueError(f"pool {self.name!r}: idle must be >= 0, got {self.idle}")
        if self.min_size < 0 or self.max_size < self.min_size:
            raise ValueError(
                f"pool {self.name!r}: need 0 <= min_size <= max_size, "
                f"got min_size={self.min_size} max_size={self.max_size}"
            )
        object.__setattr__(self, "labels", normalize_labels(self.labels) | {IMPLIED_LABEL})


DEFAULT_RUNNER_LABELS = ("self-hosted", "linux", "x64")


def build_pools(
    mode: PoolMode,
    runner_labels: Sequence[str],
    pool_labels: Mapping[str, Sequence[str]],
    *,
    ephemeral: bool = False,
    static_count: int = 0,
    sizes: Mapping[str, tuple[int, int]] | None = None,
    idle: Mapping[str, int] | None = None,
) -> list[Pool]:
    """The pools of a fleet: its runners carry the default labels, the fleet's labels and
    their pool's labels (as the registrar registers them). Static mode is one pool named
    `default` of `static_count` hosts; autoscaled sizes default to (0, 5) until the ASG's
    own bounds are known (`with_group_bounds`)."""
    base = (*DEFAULT_RUNNER_LABELS, *runner_labels)
    if mode == "static":
        n = static_count
        return [Pool("default", frozenset(base), n, n, "static", ephemeral)]
    sizes, idle = sizes or {}, idle or {}
    return [
        Pool(
            name,
            frozenset((*base, *labels)),
            *sizes.get(name, (0, 5)),
            "autoscaled",
            ephemeral,
            idle.get(name, 0),
        )
        for name, labels in pool_labels.items()
    ]


def with_group_bounds(pools: Sequence[Pool], bounds: Mapping[str, tuple[int, int]]) -> list[Pool]:
    """Pools with their ASG's current min/max (scheduled actions move the minimum)."""
    return [
        replace(p, min_size=bounds[p.name][0], max_size=bounds[p.name][1])
        if p.mode == "autoscaled" and p.name in bounds and bounds[p.name][0] <= bounds[p.name][1]
        else p
        for p in pools
    ]


@dataclass(frozen=True)
class Job:
    """A workflow job as the job table knows it (from `workflow_job` events)."""

    id: int
    labels: tuple[str, ...]
    status: str  # queued | waiting | in_progress | completed
    created_at: float = 0.0
    runner_name: str | None = None
    completed_at: float | None = None
    repository: str = ""


@dataclass(frozen=True)
class RunnerState:
    """A self-hosted runner as GitHub reports it."""

    id: int
    name: str
    status: str  # online | offline
    busy: bool
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Instance:
    """A runner host as EC2/Auto Scaling describe it."""

    id: str
    pool: str
    state: str  # EC2 state name
    launched_at: float | None  # None: not known (not described yet; fleet.py): decisions wait
    protected: bool = False
    runner_name: str | None = None


@dataclass(frozen=True)
class Group:
    """An autoscaled pool's ASG: its desired capacity and the last scaling times."""

    pool: str
    desired: int
    last_scale_out_at: float | None = None
    last_scale_in_at: float | None = None


@dataclass(frozen=True)
class ScalerSettings:
    scale_out_cooldown: float = 0.0
    scale_in_cooldown: float = 120.0
    idle_grace: float = 600.0


@dataclass(frozen=True)
class Snapshot:
    """Everything the scaler decides from. `runners=None` means GitHub was not asked."""

    pools: Sequence[Pool]
    jobs: Sequence[Job]
    instances: Sequence[Instance]
    groups: Mapping[str, Group]
    now: float
    runners: Sequence[RunnerState] | None = None


# ---- actions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SetDesiredCapacity:
    pool: str
    desired: int
    reason: str = field(default="", compare=False)


@dataclass(frozen=True)
class ProtectInstances:
    pool: str
    instance_ids: tuple[str, ...]
    protected: bool


@dataclass(frozen=True)
class TerminateInstance:
    pool: str
    instance_id: str
    reason: str = field(default="", compare=False)


ScalerAction = SetDesiredCapacity | ProtectInstances | TerminateInstance


# ---- label matching ----------------------------------------------------------------------
def match_pool(job_labels: Iterable[str], pools: Sequence[Pool]) -> Pool | None:
    """The pool a job with these labels runs on, or None (GitHub-hosted or unknown labels)."""
    wanted = normalize_labels(job_labels)
    if not wanted:
        return None
    best: Pool | None = None
    for pool in pools:
        if wanted <= pool.labels and (best is None or len(pool.labels) < len(best.labels)):
            best = pool
    return best


class _Matcher:
    """Caches label-set -> pool (a fleet sees few distinct label sets, many jobs)."""

    def __init__(self, pools: Sequence[Pool]) -> None:
        self._pools = pools
        self._cache: dict[tuple[str, ...], Pool | None] = {}

    def __call__(self, labels: tuple[str, ...]) -> Pool | None:
        try:
            return self._cache[labels]
        except KeyError:
            pool = self._cache[labels] = match_pool(labels, self._pools)
            return pool


def queued_by_pool(jobs: Sequence[Job], pools: Sequence[Pool]) -> dict[str, list[Job]]:
    """Queued jobs grouped by the pool they go to; unmatched jobs under the key ''."""
    match = _Matcher(pools)
    out: dict[str, list[Job]] = {}
    for job in jobs:
        if job.status in QUEUED_STATES:
            pool = match(job.labels)
            out.setdefault(pool.name if pool else "", []).append(job)
    return out


# ---- facts derived per host --------------------------------------------------------------
@dataclass(frozen=True)
class _HostFacts:
    busy: frozenset[str]  # runner names that are busy
    last_completed: Mapping[str, float]  # runner name -> last completed job time
    registered: frozenset[str] | None  # runner names GitHub knows (None: not asked)


def _host_facts(snapshot: Snapshot) -> _HostFacts:
    busy: set[str] = set()
    last: dict[str, float] = {}
    for job in snapshot.jobs:
        if not job.runner_name:
            continue
        if job.status == "in_progress":
            busy.add(job.runner_name)
        elif job.status == "completed":
            done = job.completed_at if job.completed_at is not None else job.created_at
            if done > last.get(job.runner_name, float("-inf")):
                last[job.runner_name] = done
    registered: frozenset[str] | None = None
    if snapshot.runners is not None:
        registered = frozenset(r.name for r in snapshot.runners)
        busy.update(r.name for r in snapshot.runners if r.busy)
    return _HostFacts(frozenset(busy), last, registered)


def is_busy(inst: Instance, facts: _HostFacts) -> bool:
    return inst.runner_name is not None and inst.runner_name in facts.busy


def _deregistered(inst: Instance, facts: _HostFacts) -> bool:
    name = inst.runner_name
    return (
        facts.registered is not None
        and name is not None
        and name not in facts.registered
        and name in facts.last_completed
    )


def _idle_since(inst: Instance, facts: _HostFacts) -> float:
    """Since when the host has been idle: its launch or its runner's last job, whichever is
    later. A host whose launch time is not known is idle since its last job if one is known
    (it ran on the host, so after the launch), else since an unknown time: +inf, never idle
    long enough to be scaled in (it waits until it is described)."""
    done = facts.last_completed.get(inst.runner_name or "", float("-inf"))
    if inst.launched_at is None:
        return done if done > float("-inf") else float("inf")
    return max(inst.launched_at, done)


def _cooled(last: float | None, cooldown: float, now: float) -> bool:
    return last is None or now - last >= cooldown


def _clamp(n: int, pool: Pool) -> int:
    return max(pool.min_size, min(pool.max_size, n))


def need(pool: Pool, busy: int, queued: int) -> int:
    """The one capacity rule: busy hosts + queued jobs + the pool's hot idle runners, within
    the pool's bounds."""
    return _clamp(busy + queued + pool.idle, pool)


def scale_out(
    pool: Pool,
    group: Group,
    busy: int,
    queued: int,
    settings: ScalerSettings,
    now: float,
) -> SetDesiredCapacity | None:
    """The webhook fast path: raise the pool's capacity to what it needs, from the pool's
    counters alone (busy = jobs in progress); never lowers it (scale-in is the periodic
    pass's, with GitHub's runner list)."""
    if pool.mode != "autoscaled":
        return None
    target = need(pool, busy, queued)
    if target <= group.desired or not _cooled(
        group.last_scale_out_at, settings.scale_out_cooldown, now
    ):
        return None
    why = f"{busy} busy + {queued} queued + {pool.idle} idle (was {group.desired})"
    return SetDesiredCapacity(pool.name, target, why)


# ---- the decision ------------------------------------------------------------------------
def _scale_in(
    pool: Pool,
    desired: int,
    target: int,
    live: Sequence[Instance],
    facts: _HostFacts,
    settings: ScalerSettings,
    now: float,
) -> list[ScalerAction]:
    """Terminate idle hosts (deregistered first, then longest idle), then cancel capacity
    the ASG has not launched yet, never going below the hosts that stay."""
    eligible = [
        i
        for i in live
        if i.state == "running"
        and not is_busy(i, facts)
        and (_deregistered(i, facts) or now - _idle_since(i, facts) >= settings.idle_grace)
    ]
    eligible.sort(key=lambda i: (not _deregistered(i, facts), _idle_since(i, facts), i.id))
    victims = eligible[: desired - target]
    actions: list[ScalerAction] = []
    for inst in victims:
        why = (
            "runner deregistered"
            if _deregistered(inst, facts)
            else f"idle {int(now - _idle_since(inst, facts))}s"
        )
        actions.append(TerminateInstance(pool.name, inst.id, f"{why}; pool needs {target}"))
    remaining = desired - len(victims)
    floor = _clamp(max(target, len(live) - len(victims)), pool)
    if remaining > floor:
        why = f"cancel capacity not launched yet (was {remaining})"
        actions.append(SetDesiredCapacity(pool.name, floor, why))
    return actions


def _decide_pool(
    pool: Pool,
    group: Group,
    instances: Sequence[Instance],
    queued: int,
    facts: _HostFacts,
    settings: ScalerSettings,
    now: float,
) -> list[ScalerAction]:
    live = [i for i in instances if i.state in LIVE_STATES]
    busy = [i for i in live if is_busy(i, facts)]
    target = need(pool, len(busy), queued)
    desired = group.desired
    actions: list[ScalerAction] = []
    terminating: set[str] = set()

    if target > desired:
        if _cooled(group.last_scale_out_at, settings.scale_out_cooldown, now):
            actions.append(
                SetDesiredCapacity(
                    pool.name,
                    target,
                    f"{len(busy)} busy + {queued} queued + {pool.idle} idle (was {desired})",
                )
            )
    elif (
        target < desired
        and facts.registered is not None
        and _cooled(group.last_scale_in_at, settings.scale_in_cooldown, now)
    ):
        scale_in = _scale_in(pool, desired, target, live, facts, settings, now)
        actions += scale_in
        terminating = {a.instance_id for a in scale_in if isinstance(a, TerminateInstance)}

    protect = tuple(sorted(i.id for i in busy if not i.protected))
    if protect:
        actions.append(ProtectInstances(pool.name, protect, True))
    if facts.registered is not None:
        idle_registered = [
            i
            for i in live
            if i.protected
            and i.id not in terminating
            and not is_busy(i, facts)
            and i.runner_name in facts.registered
        ]
        unprotect = tuple(sorted(i.id for i in idle_registered))
        if unprotect:
            actions.append(ProtectInstances(pool.name, unprotect, False))
    return actions


def decide(snapshot: Snapshot, settings: ScalerSettings | None = None) -> list[ScalerAction]:
    """Pure: the actions that bring every autoscaled pool to what its jobs need."""
    settings = settings or ScalerSettings()
    facts = _host_facts(snapshot)
    queued = queued_by_pool(snapshot.jobs, snapshot.pools)
    by_pool: dict[str, list[Instance]] = {}
    for inst in snapshot.instances:
        by_pool.setdefault(inst.pool, []).append(inst)
    actions: list[ScalerAction] = []
    for pool in snapshot.pools:
        group = snapshot.groups.get(pool.name)
        if pool.mode != "autoscaled" or group is None:
            continue
        actions += _decide_pool(
            pool,
            group,
            by_pool.get(pool.name, []),
            len(queued.get(pool.name, [])),
            facts,
            settings,
            snapshot.now,
        )
    return actions


def apply(snapshot: Snapshot, actions: Sequence[ScalerAction]) -> Snapshot:
    """The snapshot as it would be once the actions took effect (for tests and dry runs).

    New instances the ASG would launch are not invented; terminated ones leave, each one
    decrementing its group's desired capacity.
    """
    groups = dict(snapshot.groups)
    instances = {i.id: i for i in snapshot.instances}
    now = snapshot.now
    for action in actions:
        g = groups[action.pool]
        if isinstance(action, SetDesiredCapacity):
            if action.desired > g.desired:
                groups[action.pool] = replace(g, desired=action.desired, last_scale_out_at=now)
            else:
                groups[action.pool] = replace(g, desired=action.desired, last_scale_in_at=now)
        elif isinstance(action, ProtectInstances):
            for iid in action.instance_ids:
                instances[iid] = replace(instances[iid], protected=action.protected)
        else:
            instances[action.instance_id] = replace(
                instances[action.instance_id], state="shutting-down"
            )
            groups[action.pool] = replace(g, desired=g.desired - 1, last_scale_in_at=now)
    return replace(snapshot, groups=groups, instances=list(instances.values()))
