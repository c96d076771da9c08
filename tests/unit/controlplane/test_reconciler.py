"""Reconciler: one test per drift case, the never-delete rules, and a pass against moto."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import boto3
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from runnerfleet.controlplane.fleet import Fleet, GroupInfo, HostInfo, Outcome
from runnerfleet.controlplane.job_table import JobUpdate, MemoryJobTable, jobs_of
from runnerfleet.controlplane.reconciler import (
    DeleteParameter,
    DeleteRunner,
    Facts,
    Reconciler,
    ReconcilerSettings,
    RecordJob,
    RefreshJob,
    ReplaceInstance,
    decide,
    with_scaler,
)
from runnerfleet.controlplane.scaler import (
    Instance,
    Job,
    Pool,
    ProtectInstances,
    RunnerState,
    ScalerAction,
    ScalerSettings,
    SetDesiredCapacity,
    TerminateInstance,
)
from runnerfleet.controlplane.ssm_store import RegistrationStore
from runnerfleet.github.errors import NotFoundError, ValidationError
from runnerfleet.github.models import Runner, WorkflowJob
from runnerfleet.vocabulary import RUNNER_ID_TAG

NOW = 1_800_000_000.0
S = ReconcilerSettings(
    "rf", boot_timeout=600, parameter_ttl=3600, parameter_grace=600, queue_timeout=300
)
POOL = Pool("default", frozenset({"linux", "x64"}), 0, 4)
GROUP = GroupInfo("rf-default", "default", 0, 4, 1)


def host(
    iid: str,
    age: float | None,
    state: str = "running",
    asg: str | None = "rf-default",
    name: str | None = None,
) -> HostInfo:
    """A host launched `age` seconds ago (None: launch time not known, not described)."""
    launched = None if age is None else NOW - age
    return HostInfo(
        Instance(iid, "default", state, launched, False, name or f"rf-runner-{iid}"),
        asg,
        described=age is not None,
    )


def facts(
    hosts: list[HostInfo] | None = None,
    runners: list[RunnerState] | None = None,
    params: dict[str, float | None] | None = None,
    jobs: list[Job] | None = None,
    desired: int = 1,
) -> Facts:
    group = GroupInfo("rf-default", "default", 0, 4, desired)
    return Facts(
        [POOL], hosts or [], runners or [], params or {}, jobs or [], {"default": group}, NOW
    )


def runner(name: str, status: str = "offline", busy: bool = False, rid: int = 7) -> RunnerState:
    return RunnerState(rid, name, status, busy)


# ---- hosts -------------------------------------------------------------------------------
def test_host_without_runner_after_boot_timeout_is_replaced() -> None:
    plan = decide(facts([host("i-1", 601), host("i-2", 599)]), S)
    assert plan.actions == [ReplaceInstance("default", "i-1", decrement=False)]
    action = plan.actions[0]
    assert isinstance(action, ReplaceInstance) and "boot timeout" in action.reason


def test_host_whose_runner_ran_a_job_and_left_is_removed_for_good() -> None:
    done = Job(1, ("linux",), "completed", NOW - 900, "rf-runner-i-1", NOW - 700)
    assert decide(facts([host("i-1", 900)], jobs=[done]), S).actions == [
        ReplaceInstance("default", "i-1", decrement=True)
    ]


def test_registered_or_busy_host_is_kept() -> None:
    busy = Job(1, ("linux",), "in_progress", NOW - 900, "rf-runner-i-2")
    f = facts(
        [host("i-1", 5000), host("i-2", 5000)], [runner("rf-runner-i-1", "online")], jobs=[busy]
    )
    assert [a for a in decide(f, S).actions if isinstance(a, ReplaceInstance)] == []


def test_static_host_without_runner_is_reported_not_terminated() -> None:
    plan = decide(facts([host("i-1", 5000, asg=None, name="rf-runner-01")]), S)
    assert plan.actions == []
    assert "static host i-1 (rf-runner-01)" in plan.findings[0]


# ---- runners -----------------------------------------------------------------------------
def test_offline_runner_without_host_is_deleted() -> None:
    plan = decide(facts([], [runner("rf-runner-i-9")]), S)
    assert plan.actions == [DeleteRunner(7, "rf-runner-i-9")]


def test_runner_kept_when_busy_online_booting_or_not_ours() -> None:
    hosts = [host("i-1", 30, state="pending"), host("i-2", 30, state="stopped")]
    runners = [
        runner("rf-runner-i-1", rid=1),  # host still booting
        runner("rf-runner-i-2", rid=2),  # host stopped, not gone
        runner("rf-runner-i-3", busy=True, rid=3),  # busy (GitHub says so)
        runner("rf-runner-i-4", "online", rid=4),
        runner("someone-else-01", rid=5),
        runner("rf-runner-i-6", rid=6),  # busy per the job table
    ]
    busy_job = Job(1, ("linux",), "in_progress", NOW - 100, "rf-runner-i-6")
    plan = decide(facts(hosts, runners, jobs=[busy_job]), S)
    assert [a for a in plan.actions if isinstance(a, DeleteRunner)] == []


def test_runner_of_terminating_host_is_deleted() -> None:
    plan = decide(facts([host("i-1", 5000, state="shutting-down")], [runner("rf-runner-i-1")]), S)
    assert plan.actions == [DeleteRunner(7, "rf-runner-i-1")]


# ---- parameters --------------------------------------------------------------------------
def test_parameters_of_gone_hosts_and_expired_ones_are_deleted() -> None:
    hosts = [
        host("i-term", 5000, state="terminated"),
        host("i-live", 60),
        host("i-old", 300, name="x"),
    ]
    params: dict[str, float | None] = {
        "i-term": NOW - 10,  # host terminated
        "i-gone": NOW - 601,  # host not visible for longer than the grace
        "i-new": NOW - 30,  # host not visible yet: may still be launching
        "i-live": NOW - 60,  # host booting
        "i-old": NOW - 3601,  # never read
    }
    plan = decide(facts(hosts, [runner("x", "online")], params), S)
    deleted = {a.instance_id for a in plan.actions if isinstance(a, DeleteParameter)}
    assert deleted == {"i-term", "i-gone", "i-old"}


# ---- queue -------------------------------------------------------------------------------
def test_stale_queued_job_is_refreshed_and_the_scaler_alone_sizes_the_pool() -> None:
    stale = Job(5, ("linux",), "queued", NOW - 400, repository="acme/app")
    fresh = Job(6, ("linux",), "queued", NOW - 10, repository="acme/app")
    f = facts([], jobs=[stale, fresh], desired=0)
    assert decide(f, S).actions == [RefreshJob(5, "acme/app")]  # no capacity rule here
    plan = with_scaler(decide(f, S), f, ScalerSettings())
    assert [a for a in plan.actions if not isinstance(a, RefreshJob)] == [
        SetDesiredCapacity("default", 2)
    ]


def test_stale_job_with_no_pool_is_reported() -> None:
    job = Job(5, ("gpu",), "queued", NOW - 400, repository="acme/app")
    plan = decide(facts([], jobs=[job]), S)
    assert plan.actions == [RefreshJob(5, "acme/app")]
    assert "no pool has" in plan.findings[0]


def test_stale_job_with_capacity_waiting_to_launch_is_reported() -> None:
    job = Job(5, ("linux",), "queued", NOW - 400, repository="acme/app")
    plan = decide(facts([], jobs=[job], desired=1), S)
    assert plan.actions == [RefreshJob(5, "acme/app")]
    assert "0 of 1 instances" in plan.findings[0]


def test_with_scaler_does_not_double_act() -> None:
    done = Job(1, ("linux",), "completed", NOW - 900, "rf-runner-i-1", NOW - 700)
    f = facts([host("i-1", 900)], runners=[], jobs=[done], desired=1)
    plan = with_scaler(decide(f, S), f, ScalerSettings(scale_in_cooldown=0))
    assert plan.actions == [ReplaceInstance("default", "i-1", decrement=True)]
    assert not [a for a in plan.actions if isinstance(a, TerminateInstance)]


# ---- executor against moto ---------------------------------------------------------------
@dataclass
class FakeGitHub:
    runners: list[Runner]
    jobs: dict[int, WorkflowJob]
    deleted: list[int] = field(default_factory=list)
    busy_on_delete: set[int] = field(default_factory=set)
    unlisted: list[Runner] = field(default_factory=list)  # registered after the list was read

    def list_runners(self, owner: str, repo: str | None = None) -> list[Runner]:
        return list(self.runners)

    def delete_runner(self, owner: str, repo: str | None, runner_id: int) -> None:
        if runner_id not in {r.id for r in self.runners + self.unlisted}:
            raise NotFoundError("runner not found")
        if runner_id in self.busy_on_delete:
            raise ValidationError("Bad request - Runner is currently running a job")
        self.deleted.append(runner_id)
        self.runners = [r for r in self.runners if r.id != runner_id]

    def get_job(self, owner: str, repo: str, job_id: int) -> WorkflowJob:
        return self.jobs[job_id]


def test_reconcile_pass_against_moto() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        asg = boto3.client("autoscaling", region_name="us-east-1")
        ssm = boto3.client("ssm", region_name="us-east-1")
        lt = ec2.create_launch_template(
            LaunchTemplateName="rf-runner", LaunchTemplateData={"ImageId": "ami-12c6146b"}
        )["LaunchTemplate"]
        tags = {
            "runnerfleet:fleet": "rf",
            "runnerfleet:role": "runner",
            "runnerfleet:pool": "default",
        }
        asg.create_auto_scaling_group(
            AutoScalingGroupName="rf-default",
            MinSize=0,
            MaxSize=4,
            DesiredCapacity=1,
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
            AvailabilityZones=["us-east-1a"],
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in tags.items()],
        )
        fleet = Fleet("rf", asg, ec2)
        (broken,) = fleet.hosts()
        launched = broken.instance.launched_at
        assert launched is not None  # no runner online: described
        store = RegistrationStore(ssm, "/rf/runners")
        store.put("i-0123456789abcdef0", "{}")  # a host that no longer exists
        jobs = MemoryJobTable()
        queued = JobUpdate(42, "queued", ("linux",), "acme/app", 9, launched - 1000)
        jobs.transition(queued, "default", None, launched)
        gh = FakeGitHub(
            runners=[
                Runner(5, "rf-runner-default-i-0ffffffffffffffff", "linux", "offline", False),
                Runner(6, "rf-runner-other", "linux", "online", True),
            ],
            jobs={
                42: WorkflowJob(
                    42,
                    9,
                    "completed",
                    "success",
                    ["linux"],
                    6,
                    "rf-runner-other",
                    datetime.fromtimestamp(launched - 1000, UTC),
                    None,
                    datetime.fromtimestamp(launched - 10, UTC),
                )
            },
        )
        rec = Reconciler(
            settings=ReconcilerSettings("rf", boot_timeout=600),
            pools=[POOL],
            fleet=fleet,
            github=gh,
            owner="acme",
            repository=None,
            registrations=store,
            jobs=jobs,
            clock=lambda: launched + 3 * 3600,
        )
        plan, outcomes = rec.run()
        assert all(o.ok for o in outcomes), [o.as_dict() for o in outcomes]
        kinds = sorted(type(a).__name__ for a in plan.actions)
        assert kinds == ["DeleteParameter", "DeleteRunner", "RefreshJob", "ReplaceInstance"]
        assert gh.deleted == [5]  # the busy runner stays
        assert store.list() == []
        states = {h.instance.id: h.instance.state for h in fleet.hosts()}
        assert states.get(broken.instance.id) != "running"
        assert [j.status for j in jobs_of(jobs.scan(launched)[0])] == ["completed"]
        # the pass left the webhook path its view: the group, counters from the jobs seen
        view = jobs.pool("default")
        assert (view.asg_name, view.queued, view.in_progress) == ("rf-default", 0, 0)
        # converged: the ASG replaced the broken host; a pass while it boots does nothing
        (fresh,) = [h for h in fleet.hosts() if h.instance.state in ("pending", "running")]
        assert fresh.instance.id != broken.instance.id
        fresh_launch = fresh.instance.launched_at
        assert fresh_launch is not None
        rec.clock = lambda: fresh_launch + 10
        plan2, _ = rec.run(dry_run=True)
        assert plan2.actions == [] and plan2.findings == []


def test_first_pass_lists_runners_before_the_hosts_and_waits_for_unknown_facts() -> None:
    """A new process (a cold Lambda container): GitHub's runner list is read before the
    hosts, so hosts of online runners are not described (fleet.py); the decisions that need
    what is then unknown (an idle host's launch time) wait a pass instead of guessing."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        asg = boto3.client("autoscaling", region_name="us-east-1")
        lt = ec2.create_launch_template(
            LaunchTemplateName="rf-runner", LaunchTemplateData={"ImageId": "ami-12c6146b"}
        )["LaunchTemplate"]
        tags = {"runnerfleet:fleet": "rf", "runnerfleet:role": "runner"}
        asg.create_auto_scaling_group(
            AutoScalingGroupName="rf-default",
            MinSize=0,
            MaxSize=4,
            DesiredCapacity=3,
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
            AvailabilityZones=["us-east-1a"],
            Tags=[
                {"Key": k, "Value": v, "PropagateAtLaunch": True}
                for k, v in {**tags, "runnerfleet:pool": "default"}.items()
            ],
        )
        (g,) = asg.describe_auto_scaling_groups()["AutoScalingGroups"]
        busy, idle, lost = sorted(str(i["InstanceId"]) for i in g["Instances"])
        (launch,) = {
            i["LaunchTime"].timestamp()
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
        }
        asked: list[list[str]] = []

        def count(params: dict[str, Any], **_: Any) -> None:
            ids = params.get("Filters", [{}])[0].get("Values", [])
            asked.append(sorted(ids) if params["Filters"][0]["Name"] == "instance-id" else [])

        ec2.meta.events.register("before-parameter-build.ec2.DescribeInstances", count)
        gh = FakeGitHub(
            runners=[
                Runner(1, f"rf-runner-default-{busy}", "linux", "online", True),
                Runner(2, f"rf-runner-default-{idle}", "linux", "online", False),
            ],
            jobs={},
        )
        rec = Reconciler(
            settings=ReconcilerSettings("rf", boot_timeout=600),
            pools=[POOL],
            fleet=Fleet("rf", asg, ec2),
            github=gh,
            owner="acme",
            repository=None,
            registrations=RegistrationStore(boto3.client("ssm", "us-east-1"), "/rf/runners"),
            jobs=MemoryJobTable(),
            scaler_settings=ScalerSettings(scale_in_cooldown=0),
            clock=lambda: launch + 3 * 3600,
        )
        plan, _ = rec.run(dry_run=True)
        assert asked == [[], [lost]]  # the static-host lookup; only the host with no runner
        assert set(plan.actions) == {
            ReplaceInstance("default", lost, decrement=False),
            ProtectInstances("default", (busy,), True),
        }  # the idle host's idle time is not known yet: not scaled in
        asked.clear()
        plan, _ = rec.run(dry_run=True)
        assert asked == [sorted([idle, lost])]  # now it is described
        assert TerminateInstance("default", idle) in plan.actions


# ---- property: the never-delete rules hold for any world ---------------------------------
@st.composite
def worlds(draw: st.DrawFn) -> Facts:
    n = draw(st.integers(0, 6))
    states = ["pending", "running", "stopped", "shutting-down", "terminated"]
    hosts = [
        host(
            f"i-{i}",
            draw(st.one_of(st.integers(0, 5000), st.none())),
            draw(st.sampled_from(states)),
            draw(st.sampled_from(["rf-default", None])),
        )
        for i in range(n)
    ]
    runners = [
        RunnerState(
            i, f"rf-runner-i-{i}", draw(st.sampled_from(["online", "offline"])), draw(st.booleans())
        )
        for i in range(n + 2)
        if draw(st.booleans())
    ]
    jobs = [
        Job(
            k,
            ("linux",),
            draw(st.sampled_from(["queued", "in_progress", "completed"])),
            NOW - draw(st.integers(0, 5000)),
            f"rf-runner-i-{draw(st.integers(0, n + 1))}",
            NOW - draw(st.integers(0, 5000)),
            "acme/app",
        )
        for k in range(draw(st.integers(0, 6)))
    ]
    params: dict[str, float | None] = {
        f"i-{i}": NOW - draw(st.integers(0, 5000)) for i in range(n + 2) if draw(st.booleans())
    }
    return facts(hosts, runners, params, jobs, desired=draw(st.integers(0, 4)))


@settings(max_examples=80, deadline=None)
@given(worlds())
def test_never_deletes_busy_runners_or_touches_booting_hosts(f: Facts) -> None:
    plan = with_scaler(decide(f, S), f, ScalerSettings(scale_in_cooldown=0))
    busy: set[str | None] = {r.name for r in f.runners if r.busy}
    busy |= {j.runner_name for j in f.jobs if j.status == "in_progress"}
    booting = {
        h.instance.runner_name
        for h in f.hosts
        if h.instance.state in ("pending", "running", "stopped")
        and h.instance.launched_at is not None
        and NOW - h.instance.launched_at < S.boot_timeout
    }
    # a host whose launch time is not known is never judged on a guess: not replaced, and
    # scaled in only for what is known (its runner's last job ended long enough ago)
    unknown = {h.instance.id for h in f.hosts if h.instance.launched_at is None}
    ran = {j.runner_name for j in f.jobs if j.status == "completed"}
    live_names = {
        h.instance.runner_name
        for h in f.hosts
        if h.instance.state in ("pending", "running", "stopping", "stopped")
    }
    hosts = {h.instance.id: h.instance for h in f.hosts}
    for a in plan.actions:
        if isinstance(a, DeleteRunner):
            assert a.runner_name not in busy and a.runner_name not in live_names
        if isinstance(a, ReplaceInstance | TerminateInstance):
            inst = hosts[a.instance_id]
            if inst.id in unknown:
                assert isinstance(a, TerminateInstance) and inst.runner_name in ran
            assert inst.runner_name not in busy
            assert inst.runner_name not in booting or isinstance(a, TerminateInstance)
        if isinstance(a, DeleteParameter) and a.instance_id in hosts:
            inst = hosts[a.instance_id]
            assert inst.state in ("shutting-down", "terminated") or "TTL" in a.reason


@dataclass
class StubFleet:
    hosts_: list[HostInfo]
    performed: list[Any] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    name: str = "rf"

    def groups(self) -> dict[str, GroupInfo]:
        return {"default": GroupInfo("rf-default", "default", 0, 4, len(self.hosts_))}

    def hosts(self, groups: dict[str, GroupInfo] | None = None) -> list[HostInfo]:
        return self.hosts_

    def execute(
        self, actions: Sequence[ScalerAction], groups: dict[str, GroupInfo], now: float
    ) -> list[Outcome]:
        self.performed += actions
        return [Outcome(a, True, "done") for a in actions]

    def replace(self, instance_id: str, *, decrement: bool) -> str | None:
        self.replaced.append(instance_id)
        return None


@dataclass
class NoParameters:
    def list(self) -> list[Any]:
        return []

    def delete(self, instance_id: str) -> bool:
        return False  # RegistrationStore.delete: False if it was not there


def stub_reconciler(fleet: StubFleet, gh: FakeGitHub) -> Reconciler:
    """A reconciler over stub EC2/GitHub sides, no cooldown, at NOW."""
    return Reconciler(
        S,
        [POOL],
        fleet,
        gh,
        "acme",
        None,
        NoParameters(),
        MemoryJobTable(),
        ScalerSettings(scale_in_cooldown=0),
        clock=lambda: NOW,
    )


def test_scale_in_deregisters_first_and_keeps_a_host_whose_runner_took_a_job() -> None:
    fleet = StubFleet([host("i-1", 5000), host("i-2", 5000)])
    gh = FakeGitHub(
        runners=[
            Runner(1, "rf-runner-i-1", "linux", "online", False),
            Runner(2, "rf-runner-i-2", "linux", "online", False),
        ],
        jobs={},
        busy_on_delete={2},  # took a job after the runner list was read
    )
    rec = stub_reconciler(fleet, gh)
    plan, outcomes = rec.run()
    assert {a.instance_id for a in plan.actions if isinstance(a, TerminateInstance)} == {
        "i-1",
        "i-2",
    }
    assert all(o.ok for o in outcomes)
    assert gh.deleted == [1]
    assert [a.instance_id for a in fleet.performed] == ["i-1"]
    kept = [o for o in outcomes if "took a job" in o.detail]
    assert len(kept) == 1 and "rf-runner-i-2" in kept[0].detail


def test_a_host_that_leaves_takes_its_runner_even_when_the_runner_list_missed_it() -> None:
    """The runner list can be minutes old; the runner id the registrar tagged on the instance
    still finds the runner, so neither a replacement nor a scale-in leaves one behind."""
    late = Runner(41, "rf-runner-i-1", "linux", "offline", False)
    fleet = StubFleet([replace(host("i-1", 900), tags={RUNNER_ID_TAG: "41"})])
    gh = FakeGitHub(runners=[], jobs={}, unlisted=[late])  # registered after the list was read
    rec = stub_reconciler(fleet, gh)
    plan, outcomes = rec.run()
    assert [type(a).__name__ for a in plan.actions] == ["ReplaceInstance"]
    assert all(o.ok for o in outcomes), outcomes
    assert gh.deleted == [41]
    assert fleet.replaced == ["i-1"]


# ---- issue 14.2: lost events are healed from GitHub's side --------------------------------
def test_a_job_github_queued_without_a_webhook_is_recorded_and_served() -> None:
    lost = Job(77, ("self-hosted", "linux"), "queued", NOW - 30, repository="acme/app")
    f = replace(facts([], desired=0), github_queued=[lost])
    plan = with_scaler(decide(f, S), f, ScalerSettings())
    assert plan.actions == [
        RecordJob(77, "acme/app", ("self-hosted", "linux")),
        SetDesiredCapacity("default", 1),
    ]
    known = replace(f, jobs=[lost])  # once recorded, nothing more
    assert decide(known, S).actions == []


def test_in_progress_job_whose_runner_is_idle_or_gone_is_refreshed() -> None:
    running = Job(8, ("linux",), "in_progress", NOW - 400, "rf-runner-i-1", repository="acme/app")
    idle = facts([host("i-1", 900)], [runner("rf-runner-i-1", "online")], jobs=[running])
    assert RefreshJob(8, "acme/app") in decide(idle, S).actions
    gone = facts([host("i-1", 900)], [], jobs=[running])
    assert RefreshJob(8, "acme/app") in decide(gone, S).actions
    busy = facts([host("i-1", 900)], [runner("rf-runner-i-1", "online", True)], jobs=[running])
    assert not [a for a in decide(busy, S).actions if isinstance(a, RefreshJob)]


def test_failed_bootstrap_replaces_an_asg_host_and_reports_a_static_one() -> None:
    failed = {"runnerfleet:agent-state": "failed", "runnerfleet:agent-detail": "step docker"}
    asg_host = replace(host("i-1", 60), tags=failed)
    static = replace(host("i-2", 60, asg=None), tags=failed)
    plan = decide(facts([asg_host, static]), S)
    assert plan.actions == [ReplaceInstance("default", "i-1", decrement=False)]
    action = plan.actions[0]
    assert isinstance(action, ReplaceInstance) and "step docker" in action.reason
    assert any("i-2" in f and "step docker" in f for f in plan.findings)


def test_every_webhook_lost_jobs_are_still_served_against_the_emulators() -> None:
    """No webhook reaches the control plane: the periodic pass reads GitHub's queue."""
    from runnerfleet.github.client import GitHubClient, TokenAuth
    from runnerfleet.github.emulator import GitHubEmulator

    with mock_aws(), GitHubEmulator() as gh:
        gh.add_installation("acme")
        ec2 = boto3.client("ec2", region_name="us-east-1")
        asg = boto3.client("autoscaling", region_name="us-east-1")
        lt = ec2.create_launch_template(
            LaunchTemplateName="rf-runner", LaunchTemplateData={"ImageId": "ami-12c6146b"}
        )["LaunchTemplate"]
        tags = {"runnerfleet:fleet": "rf", "runnerfleet:role": "runner"}
        asg.create_auto_scaling_group(
            AutoScalingGroupName="rf-default", MinSize=0, MaxSize=10, DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
            AvailabilityZones=["us-east-1a"],
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True}
                  for k, v in {**tags, "runnerfleet:pool": "default"}.items()],
        )  # fmt: skip
        ids = [gh.enqueue_job("acme", "app", ["self-hosted", "linux", "x64"]) for _ in range(5)]
        github = GitHubClient(gh.url, TokenAuth(gh.pat), sleep=lambda _s: None)
        jobs = MemoryJobTable()
        rec = Reconciler(
            settings=ReconcilerSettings("rf"),
            pools=[POOL],
            fleet=Fleet("rf", asg, ec2),
            github=github,
            owner="acme",
            repository="app",
            registrations=RegistrationStore(
                boto3.client("ssm", region_name="us-east-1"), "/rf/runners"
            ),
            jobs=jobs,
        )
        _, outcomes = rec.run()
        assert all(o.ok for o in outcomes), [o.as_dict() for o in outcomes]
        assert sorted(j.id for j in jobs_of(jobs.scan(time.time())[0])) == sorted(ids)
        group = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]
        assert group["DesiredCapacity"] == 5  # one host per job (the ASG allows 10)
        assert jobs.pool("default").queued == 5
        github.close()


# ---- GitHub sync interval: about one GitHub call per job on a busy fleet -------------------
@dataclass
class CountingGitHub(FakeGitHub):
    """FakeGitHub that also discovers queued jobs, counting what it is asked."""

    listed: int = 0
    discovery_skips: list[frozenset[int]] = field(default_factory=list)
    run_statuses: list[tuple[str, ...]] = field(default_factory=list)
    queue: list[WorkflowJob] = field(default_factory=list)  # GitHub's queued jobs
    delete_attempts: list[int] = field(default_factory=list)

    def list_runners(self, owner: str, repo: str | None = None) -> list[Runner]:
        self.listed += 1
        return super().list_runners(owner, repo)

    def delete_runner(self, owner: str, repo: str | None, runner_id: int) -> None:
        self.delete_attempts.append(runner_id)  # a 404 counts against the rate limit too
        super().delete_runner(owner, repo, runner_id)

    def list_queued_jobs(
        self,
        repositories: Any = None,
        *,
        run_statuses: Any = ("queued", "in_progress"),
        skip_runs: Any = (),
    ) -> list[WorkflowJob]:
        self.discovery_skips.append(frozenset(skip_runs))
        self.run_statuses.append(tuple(run_statuses))
        return list(self.queue)


def _syncing(gh: CountingGitHub, clock: list[float], every: float, deep: int = 3) -> Reconciler:
    table = MemoryJobTable()
    table.transition(
        JobUpdate(5, "queued", ("self-hosted", "linux"), "acme/app", 41, NOW), "default", "d", NOW
    )
    return Reconciler(
        replace(S, github_sync_seconds=every, deep_sync_every=deep),
        [POOL],
        StubFleet([]),
        gh,
        "acme",
        None,
        NoParameters(),
        table,
        clock=lambda: clock[0],
    )


def test_github_is_asked_once_per_sync_interval_and_every_pass_in_poll_mode() -> None:
    gh, clock = CountingGitHub([], {}), [NOW]
    rec = _syncing(gh, clock, every=300)
    for step in range(10):  # ten passes a minute apart: syncs at 0, 300 and 600 s... of 540
        clock[0] = NOW + 60 * step
        rec.run()
    assert gh.listed == 2 and len(gh.discovery_skips) == 2
    poll_gh = CountingGitHub([], {})
    poll = _syncing(poll_gh, clock, every=0)
    for _ in range(4):
        poll.run()
    assert poll_gh.listed == 4 and len(poll_gh.discovery_skips) == 4


def test_discovery_skips_runs_the_table_knows_except_on_deep_syncs() -> None:
    gh, clock = CountingGitHub([], {}), [NOW]
    rec = _syncing(gh, clock, every=0, deep=3)
    for _ in range(4):
        rec.run()
    # the 1st and every 3rd sync after it list every run's jobs; the others skip run 41
    assert gh.discovery_skips == [frozenset(), frozenset({41}), frozenset({41}), frozenset()]


def test_discovery_lists_runs_whose_known_jobs_cannot_explain_them() -> None:
    """With a sync interval: a known run with a young open job is skipped even on deep syncs;
    one whose open job is older than the deep period is listed on deep syncs; one whose known
    jobs all completed (GitHub still lists it active: it holds a job no webhook told of) is
    listed on every sync."""
    gh, clock = CountingGitHub([], {}), [NOW]
    rec = _syncing(gh, clock, every=300, deep=3)  # run 41: job 5 queued at NOW
    old = NOW - 3 * 300 - 1
    rec.jobs.transition(
        JobUpdate(6, "in_progress", ("self-hosted", "linux"), "acme/app", 42, old, "r"),
        "default",
        None,
        NOW,
    )
    done = JobUpdate(7, "completed", ("self-hosted", "linux"), "acme/app", 43, NOW, "r", NOW)
    rec.jobs.transition(done, "default", None, NOW)
    for step in range(4):
        clock[0] = NOW + 300 * step
        rec.run()
    # deep syncs (the 1st and 4th) list run 42 (open job older than 3 intervals), and run
    # 41 once its job is that old too (the 4th); run 43 is listed on every sync
    assert gh.discovery_skips == [
        frozenset({41}),
        frozenset({41, 42}),
        frozenset({41, 42}),
        frozenset(),
    ]


def test_runs_in_progress_are_listed_on_deep_syncs_and_while_webhooks_are_lost() -> None:
    """A sync lists queued runs; runs in progress on the deep syncs (the 1st and every 3rd
    after it), and on every sync within the deep period after a pass found a lost webhook
    (a job GitHub had queued that the table did not know)."""
    gh, clock = CountingGitHub([], {}), [NOW]
    rec = _syncing(gh, clock, every=300, deep=3)
    both, queued = ("queued", "in_progress"), ("queued",)
    for step in range(4):
        clock[0] = NOW + 300 * step
        rec.run()
    assert gh.run_statuses == [both, queued, queued, both]
    at = datetime.fromtimestamp(NOW, UTC)
    labels = ["self-hosted", "linux", "x64"]
    lost = WorkflowJob(9, 44, "queued", None, labels, None, None, at, None, None, 1, "acme/app")
    gh.queue = [lost]
    clock[0] = NOW + 300 * 4
    _, outcomes = rec.run()  # a non-deep sync: queued runs only, where the lost job is
    assert [o.action for o in outcomes if isinstance(o.action, RecordJob)]
    gh.queue = []
    for step in range(5, 5 + 4):
        clock[0] = NOW + 300 * step
        rec.run()
    # listed on the syncs less than 3 intervals after the loss (the 6th; the 7th is deep
    # anyway), then queued runs only again
    assert gh.run_statuses[4:] == [queued, both, both, queued, queued]


def test_offline_runners_are_deleted_from_a_fresh_list_only_and_once() -> None:
    """Between syncs the cached runner list is not acted on: a runner offline there whose
    host is gone now may have run its job and left GitHub (a delete would be a counted 404);
    one offline in a fresh list is deleted once."""
    gh, clock = CountingGitHub([Runner(7, "rf-runner-i-9", "linux", "offline", False)], {}), [NOW]
    booting = Runner(8, "rf-runner-i-8", "linux", "offline", False)
    gh.runners.append(booting)
    rec = _syncing(gh, clock, every=300)
    fleet = StubFleet([host("i-8", 20, state="pending")])
    rec.fleet = fleet
    rec.run()  # a sync: runner 7 has no host (deleted), runner 8's host is booting
    assert gh.listed == 1 and gh.delete_attempts == [7]
    gh.runners = []  # runner 8 ran its job; GitHub removed it and the host terminated
    fleet.hosts_ = []
    for step in range(1, 5):  # passes a minute apart, no sync
        clock[0] = NOW + 60 * step
        rec.run()
    assert gh.listed == 1 and gh.delete_attempts == [7]
    clock[0] = NOW + 300
    rec.run()  # the next sync: nothing left to delete
    assert gh.listed == 2 and gh.delete_attempts == [7]
