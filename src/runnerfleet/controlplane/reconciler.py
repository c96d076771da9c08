"""The reconciler: converges GitHub runners, EC2 hosts, SSM registrations and the job table.

Events may be lost, so a periodic pass compares the ground truths and heals the drift.
`decide(facts, settings)` is pure; `Reconciler` gathers the facts, runs `decide` and the
scaler on the same facts, and performs the actions.

Drift and the answer:
- A live host (pending/running) whose runner never appeared in GitHub `boot_timeout` after
  launch: an ASG host is terminated without decrementing the group, so it is replaced; a
  host whose runner ran a job and is gone (an ephemeral runner whose agent did not stop it)
  is terminated with the decrement. A static host is only reported (Terraform owns it).
- A fleet runner in GitHub that is offline, not busy, and has no live host: deleted.
  A runner whose host is still booting or stopped is kept, and a busy runner never goes.
- A registration parameter `/<name>/runners/<instance-id>` whose host is terminating or
  gone (after `parameter_grace`, since a parameter can be written before the host is
  visible), or older than `parameter_ttl`: deleted.
- Scale-in by the scaler drains through GitHub: the host's runner is deleted first, and a
  runner that took a job meanwhile (GitHub answers 422) keeps its host.
- A job GitHub has queued that the table does not know (its webhook was lost): recorded,
  when the GitHub client can list the queue (`ports.QueueDiscovery`: the installation's
  repositories -> queued runs -> jobs, all conditional requests, so an unchanged queue
  costs 304s only).
- A queued job older than `queue_timeout` (config `job_recheck_seconds`), or a job in progress
  whose runner is idle or gone (its `completed` event was lost, it must not keep a host busy
  for days): asked of GitHub again (at most `max_refresh` per pass). A job that fits no
  pool is reported. Capacity itself is the scaler's (`scaler.decide` on the same facts,
  discovered jobs included).
- A host whose bootstrap failed (tag `runnerfleet:agent-state=failed`): an ASG host is
  replaced; a static host is reported with the failing step.

GitHub is asked on sync passes only (`github_sync_seconds`; 0: every pass, the poll mode
for a fleet that receives no webhooks). Between syncs a pass decides on AWS facts, the job
table and the runner list of the last sync. That list can only be stale in the safe
direction: a host launched since is younger than `boot_timeout` (longer than the sync
interval) so it is not judged yet, and a runner that became busy since is protected by the
scale-in drain (GitHub refuses to delete a busy runner, 422, and the host stays). A sync
reads the runner list before the hosts, so the fleet need not describe the hosts of online
runners (fleet.py); a host known that way has no launch time or tags, and what needs them
waits: it is not judged by boot time, and the scaler does not count it idle until its launch
time (or its runner's last job) is known. Runners are deleted as offline leftovers only
on a sync pass, from the list just read: one offline in an older list may have run its job
and left GitHub since (GitHub removes an ephemeral runner after its job), and asking to
delete it again would cost a 404.

Discovery on a sync lists the repositories' queued runs; their runs in progress only on
every `deep_sync_every`-th sync (about hourly), in poll mode, or while webhooks are being
lost (a pass recorded a job from GitHub's queue, or found a job further along on GitHub
than in the table, within the last `deep_sync_every` sync intervals). A run in progress
holds a queued job no webhook told of only if that job's `queued` delivery was lost; a lone
loss like that waits for the next deep sync, but lost deliveries seldom come alone, and the
first one found turns the listing on for every sync. Of the runs listed, it lists the jobs
only of runs the table knows nothing of (their webhooks were all lost) or of which the
table holds no open job (a run GitHub still shows queued or in progress whose known jobs
all completed holds a job no webhook told of); a deep sync also lists the jobs of runs
whose oldest open job is older than `deep_sync_every` sync intervals (a run that outlives
its known jobs' usual length may hold a lost job beside them; every known run in poll
mode). This keeps GitHub calls per job near one (the JIT config) on a busy fleet:
benchmarks/trace_replay.py.

After acting, the pass refreshes what the webhook path reads from the table: each pool's
cached group (name, bounds, desired), its cooldown stamps, and its counters recomputed from
the jobs it saw (only if no transition happened meanwhile). It publishes `QueuedJobs`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from runnerfleet.controlplane import scaler
from runnerfleet.controlplane.fleet import FleetPort, GroupInfo, HostInfo, Outcome
from runnerfleet.controlplane.job_table import JobTable, JobUpdate, PoolView, counts, jobs_of
from runnerfleet.controlplane.ports import (
    GitHubPort,
    MetricsPort,
    QueueDiscovery,
    RegistrationsPort,
)
from runnerfleet.controlplane.scaler import (
    Job,
    Pool,
    RunnerState,
    ScalerAction,
    ScalerSettings,
    SetDesiredCapacity,
    Snapshot,
    TerminateInstance,
)
from runnerfleet.vocabulary import (
    AGENT_DETAIL_TAG,
    AGENT_STATE_TAG,
    GONE_STATES,
    LIVE_STATES,
    PRESENT_STATES,
    RUNNER_ID_TAG,
    is_fleet_runner,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcilerSettings:
    name: str
    boot_timeout: float = 600.0
    parameter_ttl: float = 3600.0
    parameter_grace: float = 600.0
    queue_timeout: float = 300.0
    max_refresh: int = 20
    # GitHub sync (runner list + queue discovery): every pass when 0, else at most once per
    # `github_sync_seconds`; every `deep_sync_every`-th sync also lists the runs in progress
    # (else listed only while webhooks are being lost) and the jobs of runs the table knows
    # with an open job older than that many intervals (module docstring).
    github_sync_seconds: float = 0.0
    deep_sync_every: int = 12


@dataclass(frozen=True)
class Facts:
    pools: Sequence[Pool]
    hosts: Sequence[HostInfo]
    runners: Sequence[RunnerState]
    parameters: Mapping[str, float | None]  # instance id -> last modified (epoch s)
    jobs: Sequence[Job]
    groups: Mapping[str, GroupInfo]
    now: float
    github_queued: Sequence[Job] = ()  # GitHub's own queue (None asked: empty)
    # the runner list was read in this pass (a sync); a runner of an older list may have
    # left GitHub since (an ephemeral runner that ran its job), so none is deleted from it
    runners_fresh: bool = True

    def unknown_queued(self) -> list[Job]:
        """Jobs GitHub has queued that the table has no record of (lost webhooks)."""
        known = {j.id for j in self.jobs}
        return [j for j in self.github_queued if j.id not in known]

    def snapshot(self) -> Snapshot:
        return Snapshot(
            pools=self.pools,
            jobs=[*self.jobs, *self.unknown_queued()],
            instances=[h.instance for h in self.hosts],
            groups={p: g.as_group() for p, g in self.groups.items()},
            now=self.now,
            runners=self.runners,
        )


# ---- actions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplaceInstance:
    """Terminate an ASG host; `decrement` False lets the group launch a replacement."""

    pool: str
    instance_id: str
    decrement: bool
    reason: str = field(default="", compare=False)


@dataclass(frozen=True)
class DeleteRunner:
    runner_id: int
    runner_name: str
    reason: str = field(default="", compare=False)


@dataclass(frozen=True)
class DeleteParameter:
    instance_id: str
    reason: str = field(default="", compare=False)


@dataclass(frozen=True)
class RefreshJob:
    job_id: int
    repository: str
    reason: str = field(default="", compare=False)


@dataclass(frozen=True)
class RecordJob:
    """A job GitHub has queued that no webhook told us about: record it."""

    job_id: int
    repository: str
    labels: tuple[str, ...] = ()


ReconcileAction = (
    ReplaceInstance | DeleteRunner | DeleteParameter | RefreshJob | RecordJob | ScalerAction
)


@dataclass
class Plan:
    actions: list[ReconcileAction] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


# ---- the decision ------------------------------------------------------------------------
def _busy_names(facts: Facts) -> set[str]:
    busy = {r.name for r in facts.runners if r.busy}
    busy |= {j.runner_name for j in facts.jobs if j.status == "in_progress" and j.runner_name}
    return busy


def _hosts(facts: Facts, settings: ReconcilerSettings, plan: Plan) -> None:
    runners = {r.name for r in facts.runners}
    busy = _busy_names(facts)
    ran_jobs = {j.runner_name for j in facts.jobs if j.status == "completed" and j.runner_name}
    for host in facts.hosts:
        inst = host.instance
        name = inst.runner_name
        if inst.state in LIVE_STATES and host.tags.get(AGENT_STATE_TAG) == "failed":
            step = host.tags.get(AGENT_DETAIL_TAG, "see /var/log/user-data.log")
            if host.asg_name is None:
                plan.findings.append(
                    f"static host {inst.id} ({name}) failed its bootstrap ({step}); fix the "
                    "cause and replace it (`runnerfleet up` after terminating it)"
                )
            else:
                plan.actions.append(
                    ReplaceInstance(inst.pool, inst.id, False, f"bootstrap failed: {step}")
                )
            continue
        if inst.state not in LIVE_STATES or name in runners or name in busy:
            continue
        if inst.launched_at is None:
            continue  # launch time not known (not described yet): no judging on a guess
        age = facts.now - inst.launched_at
        if age < settings.boot_timeout:
            continue  # still booting
        if host.asg_name is None:
            plan.findings.append(
                f"static host {inst.id} ({name}) has no runner {int(age)}s after launch; "
                "read /var/log/user-data.log on it (Session Manager) or run `runnerfleet up`"
            )
            continue
        done = name in ran_jobs
        why = (
            "its runner ran a job and is gone"
            if done
            else f"no runner {int(age)}s after launch (boot timeout {int(settings.boot_timeout)}s)"
        )
        plan.actions.append(ReplaceInstance(inst.pool, inst.id, decrement=done, reason=why))


def _runners(facts: Facts, settings: ReconcilerSettings, plan: Plan) -> None:
    if not facts.runners_fresh:
        return  # only a list read in this pass says a runner is still there and offline
    present = {h.instance.runner_name for h in facts.hosts if h.instance.state in PRESENT_STATES}
    busy = _busy_names(facts)
    for runner in facts.runners:
        if not is_fleet_runner(settings.name, runner.name):
            continue  # not ours
        if runner.status != "offline" or runner.busy or runner.name in busy:
            continue
        if runner.name in present:
            continue  # its host is booting, stopped or just not connected yet
        plan.actions.append(DeleteRunner(runner.id, runner.name, "offline and its host is gone"))


def _parameters(facts: Facts, settings: ReconcilerSettings, plan: Plan) -> None:
    hosts = {h.instance.id: h.instance for h in facts.hosts}
    for instance_id, modified in sorted(facts.parameters.items()):
        host = hosts.get(instance_id)
        age = None if modified is None else facts.now - modified
        if host is not None and host.state in GONE_STATES:
            plan.actions.append(DeleteParameter(instance_id, f"instance is {host.state}"))
        elif host is None and (age is None or age >= settings.parameter_grace):
            plan.actions.append(DeleteParameter(instance_id, "instance no longer exists"))
        elif age is not None and age >= settings.parameter_ttl:
            plan.actions.append(
                DeleteParameter(
                    instance_id, f"unread for {int(age)}s (TTL {int(settings.parameter_ttl)}s)"
                )
            )


def _queue(facts: Facts, settings: ReconcilerSettings, plan: Plan) -> None:
    """Jobs GitHub queued without a webhook are recorded; stale queued jobs, and jobs in
    progress whose runner is idle or gone (a lost `completed`), are asked of GitHub again
    (at most `max_refresh` per pass). Capacity for them is the scaler's."""
    for job in facts.unknown_queued():
        if job.repository:
            plan.actions.append(RecordJob(job.id, job.repository, tuple(job.labels)))
    busy = {r.name for r in facts.runners if r.busy}
    old = [j for j in facts.jobs if facts.now - j.created_at >= settings.queue_timeout]
    stale = [j for j in old if j.status in scaler.QUEUED_STATES]
    lost_end = [j for j in old if j.status == "in_progress" and (j.runner_name or "") not in busy]
    ask = sorted(stale, key=lambda j: j.created_at) + sorted(lost_end, key=lambda j: j.created_at)
    for job in ask[: settings.max_refresh]:
        if job.repository:
            why = "queued" if job.status != "in_progress" else "its runner is idle or gone"
            plan.actions.append(RefreshJob(job.id, job.repository, why))
    if not stale:
        return
    stale_by_pool = scaler.queued_by_pool(stale, facts.pools)
    for job in stale_by_pool.get("", []):
        plan.findings.append(
            f"job {job.id} queued {int(facts.now - job.created_at)}s with labels "
            f"{list(job.labels)} that no pool has; add them to a pool's labels or fix runs-on"
        )
    for pool_name in sorted(k for k in stale_by_pool if k):
        group = facts.groups.get(pool_name)
        live = [
            h.instance
            for h in facts.hosts
            if h.instance.pool == pool_name and h.instance.state in LIVE_STATES
        ]
        if group is not None and len(live) < group.desired:
            plan.findings.append(
                f"pool {pool_name}: jobs wait while the group has {len(live)} of "
                f"{group.desired} instances; check its scaling activities for launch errors"
            )


def decide(facts: Facts, settings: ReconcilerSettings) -> Plan:
    """Pure: the healing actions for these facts (see module docstring)."""
    plan = Plan()
    _hosts(facts, settings, plan)
    _runners(facts, settings, plan)
    _parameters(facts, settings, plan)
    _queue(facts, settings, plan)
    return plan


def with_scaler(plan: Plan, facts: Facts, scaler_settings: ScalerSettings) -> Plan:
    """Add the scaler's decision on the same facts (the scaler owns capacity), minus a host
    the reconciler already replaces."""
    replaced = {a.instance_id for a in plan.actions if isinstance(a, ReplaceInstance)}
    for action in scaler.decide(facts.snapshot(), scaler_settings):
        if isinstance(action, TerminateInstance) and action.instance_id in replaced:
            continue
        plan.actions.append(action)
    return plan


# ---- the executor ------------------------------------------------------------------------
def action_dict(action: Any) -> dict[str, Any]:
    return {"action": type(action).__name__, **asdict(action)}


@dataclass
class Reconciler:
    """Gathers facts, decides, acts (one pass per call of `run`)."""

    settings: ReconcilerSettings
    pools: Sequence[Pool]
    fleet: FleetPort
    github: GitHubPort  # runnerfleet.github.client.GitHubClient (QueueDiscovery optional)
    owner: str
    repository: str | None
    registrations: RegistrationsPort
    jobs: JobTable
    scaler_settings: ScalerSettings = field(default_factory=ScalerSettings)
    clock: Callable[[], float] = time.time
    metrics: MetricsPort | None = None
    _rows: list[tuple[JobUpdate, str]] = field(default_factory=list, repr=False)
    _views: dict[str, PoolView] = field(default_factory=dict, repr=False)
    _discovered: dict[int, JobUpdate] = field(default_factory=dict, repr=False)
    _runners: list[RunnerState] = field(default_factory=list, repr=False)
    _synced_at: float | None = field(default=None, repr=False)
    _syncs: int = field(default=0, repr=False)
    _lost_seen_at: float | None = field(default=None, repr=False)  # a lost webhook's evidence

    def _sync_due(self, now: float) -> bool:
        last, every = self._synced_at, self.settings.github_sync_seconds
        return last is None or every <= 0 or now - last >= every

    def gather(self) -> Facts:
        now = self.clock()
        self._rows, self._views = self.jobs.scan(now)
        groups = {
            p: replace(
                g,
                last_scale_out_at=self._views[p].last_scale_out_at if p in self._views else None,
                last_scale_in_at=self._views[p].last_scale_in_at if p in self._views else None,
            )
            for p, g in self.fleet.groups().items()
        }
        sync = self._sync_due(now)
        if sync:  # before the hosts: hosts of online runners need no describing (fleet.py)
            self._runners = [
                RunnerState(r.id, r.name, r.status, r.busy, tuple(r.labels))
                for r in self.github.list_runners(self.owner, self.repository)
            ]
            self._synced_at, self._syncs = now, self._syncs + 1
            online = getattr(self.fleet, "runners_online", None)
            if online is not None:
                online(
                    [r.name for r in self._runners if r.status == "online"],
                    [r.name for r in self._runners if r.status == "online" and r.busy],
                )
        hosts = self.fleet.hosts(groups)
        runners = list(self._runners)
        params = {
            p.instance_id: (p.last_modified.timestamp() if p.last_modified else None)
            for p in self.registrations.list()
        }
        bounds = {p: (g.min_size, g.max_size) for p, g in groups.items()}
        pools = scaler.with_group_bounds(self.pools, bounds)  # the ASG's bounds are current
        self._discovered = {}
        queued = self._github_queue(pools) if sync else []
        jobs = jobs_of(self._rows)
        return Facts(pools, hosts, runners, params, jobs, groups, now, queued, sync)

    def _lost_webhooks_lately(self, now: float) -> bool:
        """A pass found a webhook lost (a job recorded from GitHub's queue, or a job GitHub
        reported further along than the table) within the last deep period."""
        period = self.settings.github_sync_seconds * self.settings.deep_sync_every
        return self._lost_seen_at is not None and now - self._lost_seen_at < period

    def _github_queue(self, pools: Sequence[Pool]) -> list[Job]:
        """GitHub's queued jobs for this fleet's pools (when the client can list them)."""
        self._discovered = {}
        if not isinstance(self.github, QueueDiscovery):
            return []
        repos = [f"{self.owner}/{self.repository}"] if self.repository else None
        every = self.settings.deep_sync_every
        deep = every <= 1 or self._syncs % every == 1
        period = self.settings.github_sync_seconds * every  # 0 in poll mode: every run
        oldest: dict[int, float] = {}  # run id -> created_at of its oldest open job
        for u, _ in self._rows:
            if u.run_id and u.rank < 2:
                oldest[u.run_id] = min(oldest.get(u.run_id, u.created_at), u.created_at)
        now = self._synced_at or self.clock()
        skip = frozenset(
            run
            for run, since in oldest.items()
            if not deep or (period > 0 and now - since < period)
        )
        # Runs in progress are listed on deep syncs, in poll mode, and while webhooks are
        # being lost (module docstring); a queued run is listed on every sync.
        statuses = (
            ("queued", "in_progress")
            if deep or period <= 0 or self._lost_webhooks_lately(now)
            else ("queued",)
        )
        try:
            found = self.github.list_queued_jobs(repos, run_statuses=statuses, skip_runs=skip)
        except Exception as exc:  # discovery must not stop the pass
            log.warning("reconcile: could not list GitHub's queued jobs: %s", exc)
            return []
        out: list[Job] = []
        for job in found:
            labels = [str(x) for x in job.labels]
            ours = "self-hosted" in {x.lower() for x in labels}
            if not (ours or scaler.match_pool(labels, pools) is not None):
                continue
            update = JobUpdate.from_github(job, str(getattr(job, "repository", "") or ""))
            self._discovered[update.job_id] = update
            out.append(update.as_job())
        return out

    def plan(self, facts: Facts) -> Plan:
        return with_scaler(decide(facts, self.settings), facts, self.scaler_settings)

    def run(self, *, dry_run: bool = False) -> tuple[Plan, list[Outcome]]:
        facts = self.gather()
        plan = self.plan(facts)
        for finding in plan.findings:
            log.warning("reconcile: %s", finding)
        if dry_run:
            return plan, []
        outcomes = [self._perform(a, facts) for a in plan.actions]
        self._refresh_table(facts, outcomes)
        return plan, outcomes

    def _refresh_table(self, facts: Facts, outcomes: Sequence[Outcome]) -> None:
        """Write back what the webhook path reads (module docstring); never fails the pass."""
        now = facts.now
        desired = {p: g.desired for p, g in facts.groups.items()}
        for o in outcomes:
            a = o.action
            if not o.ok:
                continue
            try:
                if isinstance(a, SetDesiredCapacity) and a.pool in desired:
                    up = a.desired > desired[a.pool]
                    desired[a.pool] = a.desired
                    self.jobs.mark_scaled(a.pool, "out" if up else "in", now)
                elif (
                    isinstance(a, TerminateInstance)
                    and a.pool in desired
                    and "kept" not in o.detail
                    and "already gone" not in o.detail
                ):
                    desired[a.pool] -= 1
                    self.jobs.mark_scaled(a.pool, "in", now)
            except Exception as exc:
                log.warning("reconcile: could not record a cooldown: %s", exc)
        counted = counts(self._rows)
        try:
            for p, g in facts.groups.items():
                self.jobs.remember_group(
                    p,
                    asg_name=g.name,
                    min_size=g.min_size,
                    max_size=g.max_size,
                    desired=max(0, desired[p]),
                    now=now,
                )
            for p in {*counted, *self._views}:
                q, r = counted.get(p, (0, 0))
                view = self._views.get(p, PoolView(p))
                if (view.queued, view.in_progress) != (q, r):
                    self.jobs.correct_counters(p, q, r, view.seq)
        except Exception as exc:
            log.warning("reconcile: could not refresh the pools' rows: %s", exc)
        if self.metrics is not None:
            queued = sum(q for p, (q, _) in counted.items() if p)
            self.metrics.publish_queued(queued, now)

    def _perform(self, action: ReconcileAction, facts: Facts) -> Outcome:
        try:
            if isinstance(action, TerminateInstance | ReplaceInstance):
                refused = self._deregister_first(action.instance_id, facts)
                if refused:
                    return Outcome(action, True, refused)
            if isinstance(
                action, ReplaceInstance | DeleteRunner | DeleteParameter | RefreshJob | RecordJob
            ):
                return Outcome(action, True, self._heal(action, facts))
            (outcome,) = self.fleet.execute([action], dict(facts.groups), facts.now)
            return outcome
        except Exception as exc:  # one failure must not stop the others; reported per action
            log.error("reconcile: %s failed: %s", type(action).__name__, exc)
            return Outcome(action, False, f"{type(exc).__name__}: {exc}")

    def _deregister_first(self, instance_id: str, facts: Facts) -> str | None:
        """A host leaves through GitHub (scale-in or replacement): its runner is deleted before
        the host goes, so no runner outlives its host. GitHub refuses (422) when the runner
        took a job since the decision; then the host stays and the reason is returned."""
        from runnerfleet.github.errors import NotFoundError, ValidationError

        info = next((h for h in facts.hosts if h.instance.id == instance_id), None)
        if info is None:
            return None
        name = info.instance.runner_name
        runner = next((r for r in facts.runners if r.name == name), None)
        # The runner list is refreshed every few minutes; a runner registered since then is
        # found by the id the registrar tagged on its instance, so no host leaves a runner behind.
        tagged = info.tags.get(RUNNER_ID_TAG, "")
        runner_id = runner.id if runner else int(tagged) if tagged.isdigit() else None
        if runner_id is None:
            return None
        try:
            self.github.delete_runner(self.owner, self.repository, runner_id)
        except NotFoundError:
            return None
        except ValidationError:
            return f"kept {instance_id}: its runner {name} took a job"
        return None

    def _heal(
        self,
        action: ReplaceInstance | DeleteRunner | DeleteParameter | RefreshJob | RecordJob,
        facts: Facts,
    ) -> str:
        if isinstance(action, ReplaceInstance):
            gone = self.fleet.replace(action.instance_id, decrement=action.decrement)
            return gone or f"{action.instance_id} terminating ({action.reason})"
        if isinstance(action, DeleteRunner):
            from runnerfleet.github.errors import NotFoundError

            self._runners = [r for r in self._runners if r.id != action.runner_id]
            try:
                self.github.delete_runner(self.owner, self.repository, action.runner_id)
            except NotFoundError:
                return f"runner {action.runner_name} already gone"
            return f"deleted runner {action.runner_name}"
        if isinstance(action, DeleteParameter):
            deleted = self.registrations.delete(action.instance_id)
            return f"deleted ({action.reason})" if deleted else "already gone"
        if isinstance(action, RecordJob):
            found = self._discovered[action.job_id]
            pool = scaler.match_pool(found.labels, facts.pools)
            self.jobs.transition(found, pool.name if pool else "", None, facts.now)
            self._rows.append((found, pool.name if pool else ""))
            self._lost_seen_at = facts.now
            return f"job {action.job_id} queued on GitHub without a webhook: recorded"
        owner, _, repo = action.repository.partition("/")
        job = self.github.get_job(owner, repo, action.job_id)
        update = JobUpdate.from_github(job, action.repository)
        pool = scaler.match_pool(update.labels, facts.pools)
        result = self.jobs.transition(update, pool.name if pool else "", None, facts.now)
        changed = result.outcome == "recorded"
        if changed:  # GitHub is further along than every webhook the table received
            self._lost_seen_at = facts.now
        return f"job {action.job_id} is {update.status}" + ("" if changed else " (unchanged)")
