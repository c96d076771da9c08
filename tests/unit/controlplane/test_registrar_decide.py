"""The registrar's pure decision function."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from runnerfleet.controlplane.registrar import (
    CompleteLifecycle,
    DeleteParameter,
    Facts,
    Forget,
    InstanceEvent,
    InstanceFact,
    Issue,
    LifecycleAction,
    RegistrarSettings,
    RunnerFact,
    decide,
)
from runnerfleet.vocabulary import is_fleet_runner, runner_name_for, static_runner_name

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = RegistrarSettings(name="rf", owner="acme", repository="app")


def facts(
    instances: dict[str, str] | None = None,
    parameters: dict[str, datetime | None] | None = None,
    claimed: set[str] | None = None,
    runners: list[RunnerFact] | None = None,
) -> Facts:
    insts = {
        iid: InstanceFact(iid, state, f"rf-runner-{n:02d}", "static")
        for n, (iid, state) in enumerate((instances or {}).items(), start=1)
    }
    return Facts(
        instances=insts,
        parameters=parameters or {},
        claimed=frozenset(claimed or set()),
        runners=None if runners is None else {r.name: r for r in runners},
        now=NOW,
    )


def test_duplicate_events_give_one_issue() -> None:
    events = [InstanceEvent("i-1", state="pending"), InstanceEvent("i-1", state="running")] * 3
    actions = decide(events, facts({"i-1": "running"}), SETTINGS, scan=True)
    assert actions == [Issue("i-1", "rf-runner-01", "static")]


def test_no_issue_when_claimed_or_parameter_exists_or_runner_online() -> None:
    ev = [InstanceEvent("i-1", state="running")]
    assert decide(ev, facts({"i-1": "running"}, claimed={"i-1"}), SETTINGS, scan=False) == []
    assert decide(ev, facts({"i-1": "running"}, {"i-1": NOW}), SETTINGS, scan=False) == []
    online = [RunnerFact(7, "rf-runner-01", "online", False)]
    assert decide(ev, facts({"i-1": "running"}, runners=online), SETTINGS, scan=False) == []
    offline = [RunnerFact(7, "rf-runner-01", "offline", False)]
    assert decide(ev, facts({"i-1": "running"}, runners=offline), SETTINGS, scan=False) == [
        Issue("i-1", "rf-runner-01", "static")
    ]


def test_gone_instance_loses_its_unread_parameter_and_claim_runner_is_reconcilers() -> None:
    """A gone host's unread registration goes with it (no GitHub call); its GitHub runner is
    removed by the reconciler's pass (which reads GitHub's runner list), never per event."""
    f = facts(
        {"i-1": "terminated"},
        parameters={"i-1": NOW},
        claimed={"i-1"},
        runners=[RunnerFact(7, "rf-runner-01", "offline", False)],
    )
    actions = decide([InstanceEvent("i-1", state="terminated")], f, SETTINGS, scan=False)
    assert actions == [DeleteParameter("i-1", "instance is gone"), Forget("i-1")]
    # a host that read (and deleted) its parameter: only the claim is released
    f = facts({"i-1": "shutting-down"}, claimed={"i-1"})
    actions = decide([InstanceEvent("i-1", state="shutting-down")], f, SETTINGS, scan=False)
    assert actions == [Forget("i-1")]


def test_busy_runner_of_a_terminating_instance_is_left_alone() -> None:
    f = facts({"i-1": "shutting-down"}, runners=[RunnerFact(7, "rf-runner-01", "online", True)])
    assert decide([InstanceEvent("i-1", state="shutting-down")], f, SETTINGS, scan=False) == []


def test_events_for_other_instances_are_ignored() -> None:
    assert decide([InstanceEvent("i-x", state="running")], facts(), SETTINGS, scan=False) == []


def test_scan_leaves_parameters_of_vanished_instances_to_the_reconciler() -> None:
    old, fresh = NOW - timedelta(hours=2), NOW - timedelta(minutes=1)
    f = facts({"i-1": "running"}, parameters={"i-1": fresh, "i-old": old, "i-new": fresh})
    assert decide([], f, SETTINGS, scan=True) == []
    assert decide([], f, SETTINGS, scan=False) == []


def test_launch_lifecycle_issues_then_completes_once() -> None:
    lc = LifecycleAction("launching", "rf-default", "rf-launch", "tok-1")
    events = [InstanceEvent("i-1", lifecycle=lc), InstanceEvent("i-1", lifecycle=lc)]
    actions = decide(events, facts({"i-1": "pending"}), SETTINGS, scan=False)
    assert actions == [
        Issue("i-1", "rf-runner-01", "static"),
        CompleteLifecycle("i-1", "rf-default", "rf-launch", "tok-1"),
    ]


def test_terminate_lifecycle_completes() -> None:
    lc = LifecycleAction("terminating", "rf-default", "rf-drain", "tok-2")
    f = facts({"i-1": "running"}, parameters={"i-1": NOW})
    actions = decide([InstanceEvent("i-1", lifecycle=lc)], f, SETTINGS, scan=False)
    assert actions == [
        DeleteParameter("i-1", "instance is gone"),  # unread: it goes with the host
        CompleteLifecycle("i-1", "rf-default", "rf-drain", "tok-2"),
    ]


def test_runner_names_static_tag_or_pool_and_id() -> None:
    assert runner_name_for({"runnerfleet:runner-name": "rf-runner-03"}, "i-1", "rf") == (
        "rf-runner-03"
    )
    assert runner_name_for({"runnerfleet:pool": "gpu"}, "i-0abc", "rf") == "rf-runner-gpu-i-0abc"
    assert runner_name_for({}, "i-0abc", "rf") == "rf-runner-default-i-0abc"
    assert is_fleet_runner("rf", "rf-runner-03") and is_fleet_runner("rf", "rf-runner-gpu-i-1")
    assert not is_fleet_runner("rf", "rf-runnerx-1") and not is_fleet_runner("rf", "other-1")
    assert static_runner_name("rf", 3) == "rf-runner-03"


def test_labels_include_defaults_configured_and_pool_labels_once() -> None:
    s = RegistrarSettings(
        name="rf",
        owner="o",
        repository=None,
        labels=("linux", "big"),
        pool_labels={"gpu": ("cuda",)},
    )
    assert s.labels_for("gpu") == ["self-hosted", "linux", "x64", "big", "cuda"]
    assert s.registration_url == "https://github.com/o"


def test_unconsumed_registration_token_is_replaced_before_it_expires() -> None:
    old, fresh = NOW - timedelta(minutes=55), NOW - timedelta(minutes=5)
    ev = [InstanceEvent("i-1", state="running")]
    stale = facts({"i-1": "running"}, parameters={"i-1": old}, claimed={"i-1"})
    assert decide(ev, stale, SETTINGS, scan=False) == [
        DeleteParameter("i-1", "unused registration token expires"),
        Forget("i-1"),
        Issue("i-1", "rf-runner-01", "static"),
    ]
    ok = facts({"i-1": "running"}, parameters={"i-1": fresh}, claimed={"i-1"})
    assert decide(ev, ok, SETTINGS, scan=False) == []
    ephemeral = RegistrarSettings(name="rf", owner="acme", repository="app", ephemeral=True)
    assert decide(ev, stale, ephemeral, scan=False) == []  # JIT configs do not expire so


# ---- issue 11.5: warm pools, static ephemeral hosts --------------------------------------
def _asg(iid: str, lifecycle: str | None) -> Facts:
    f = facts()
    inst = InstanceFact(
        iid,
        "running",
        f"rf-runner-default-{iid}",
        "default",
        {"aws:autoscaling:groupName": "rf-default"},
        lifecycle,
    )
    return replace(f, instances={iid: inst})


def test_warm_pool_instances_are_registered_when_they_go_in_service() -> None:
    into_pool = LifecycleAction("launching", "rf-default", "rf-launch", "t-1", "WarmPool")
    events = [InstanceEvent("i-1", lifecycle=into_pool), InstanceEvent("i-1", state="running")]
    warming = _asg("i-1", "Warmed:Pending:Wait")
    # no registration, and the launch action is left to the host: CONTINUE in
    # Warmed:Pending:Wait stops the instance, so only the end of its bootstrap completes it
    assert decide(events, warming, SETTINGS, scan=False) == []
    no_destination = LifecycleAction("launching", "rf-default", "rf-launch", "t-1")
    assert (
        decide([InstanceEvent("i-1", lifecycle=no_destination)], warming, SETTINGS, scan=False)
        == []
    )
    assert decide([], _asg("i-1", "Warmed:Running"), SETTINGS, scan=True) == []
    out = LifecycleAction("launching", "rf-default", "rf-launch", "t-2", "AutoScalingGroup")
    leaving = _asg("i-1", "Pending:Wait")
    assert decide([InstanceEvent("i-1", lifecycle=out)], leaving, SETTINGS, scan=False) == [
        Issue("i-1", "rf-runner-default-i-1", "default"),
        CompleteLifecycle("i-1", "rf-default", "rf-launch", "t-2"),
    ]


def test_static_ephemeral_host_gets_a_fresh_registration_after_its_job() -> None:
    ephemeral = replace(SETTINGS, ephemeral=True)
    # its JIT config was consumed (no parameter), its runner ran the job and left GitHub
    done = facts({"i-1": "running"}, claimed={"i-1"}, runners=[])
    assert decide([], done, ephemeral, scan=True) == [
        Forget("i-1"),
        Issue("i-1", "rf-runner-01", "static"),
    ]
    # while its runner is still listed (idle or busy), nothing happens
    listed = facts(
        {"i-1": "running"}, claimed={"i-1"}, runners=[RunnerFact(7, "rf-runner-01", "online", True)]
    )
    assert decide([], listed, ephemeral, scan=True) == []
    # an ASG ephemeral host is not re-registered: it terminates after its job
    asg = replace(_asg("i-2", "InService"), claimed=frozenset({"i-2"}), runners={})
    assert decide([], asg, ephemeral, scan=True) == []


def test_an_expired_claim_lets_a_lost_registration_be_minted_again() -> None:
    """A registrar stopped between minting and storing (a Lambda timeout) leaves a claim;
    it expires in minutes, then the host is registered again."""
    from runnerfleet.controlplane.claims import CLAIM_TTL_SECONDS, MemoryClaims

    now = [0.0]
    claims = MemoryClaims(clock=lambda: now[0])
    assert claims.claim("i-1", "rf-runner-01") and not claims.claim("i-1", "rf-runner-01")
    assert CLAIM_TTL_SECONDS <= 900  # minutes, not days
    now[0] += CLAIM_TTL_SECONDS
    assert not claims.claimed("i-1")
    minted_not_stored = facts(
        {"i-1": "running"}, runners=[RunnerFact(7, "rf-runner-01", "offline", False)]
    )
    assert decide([], minted_not_stored, SETTINGS, scan=True) == [
        Issue("i-1", "rf-runner-01", "static")
    ]
    assert claims.claim("i-1", "rf-runner-01")
