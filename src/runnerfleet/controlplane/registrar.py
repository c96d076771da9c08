"""The registrar: one one-shot GitHub registration per runner instance, in SSM.

`decide()` is pure: from events (EC2 state changes, ASG lifecycle actions, a periodic scan)
and the current facts (fleet instances, existing parameters, issued claims, GitHub runners) it
returns actions. `Registrar` gathers the facts, runs the actions and reports what it did.

Rules: a live instance (pending/running, or launching in its ASG) with no claim and no
parameter gets one registration: a JIT config (ephemeral fleets) or a registration token
(persistent), written as SecureString `/<name>/runners/<instance-id>`; an unconsumed token is
replaced before its hour runs out. A gone instance (shutting-down/terminated, or terminating
in its ASG) has its claim released and, if its host never read it, its parameter deleted
(the parameters are listed for every event anyway: one SSM call, no GitHub call, and the
secret does not outlive the host). Its GitHub runner, and parameters whose events were
lost, are the reconciler's sweep (runnerfleet.controlplane.reconciler), so an instance event
costs no GitHub call: GitHub's runner list is read in the periodic scan only. Pending
lifecycle actions are completed with CONTINUE after the registration exists.
Warm pools: an instance launching into the warm pool (or `Warmed:*`) gets no registration
(a JIT config would wait there for hours); it gets one when it leaves for the group
(InService). Its launch action into the warm pool (Warmed:Pending:Wait) is not completed
here: CONTINUE there makes Auto Scaling stop the instance, so the host completes it itself
when its bootstrap is done (runnerfleet.agent.launched). Static ephemeral hosts get a fresh
registration in the periodic scan once their runner has run its job and left GitHub's list.
Duplicate events collapse to one action per instance; claims make it exactly-once across
processes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from runnerfleet.agent.registration import DEFAULT_LABELS, Registration
from runnerfleet.controlplane.claims import Claims
from runnerfleet.controlplane.ports import RegistrarGitHubPort
from runnerfleet.controlplane.ssm_store import RegistrationStore
from runnerfleet.vocabulary import (
    ASG_NAME_TAG,
    FLEET_TAG,
    GONE_STATES,
    LIVE_STATES,
    POOL_TAG,
    ROLE_TAG,
    RUNNER_ID_TAG,
    RUNNER_NAME_TAG,
    runner_name_for,
)

log = logging.getLogger(__name__)


# ---- inputs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class LifecycleAction:
    """A pending ASG lifecycle action from an EventBridge lifecycle event."""

    transition: Literal["launching", "terminating"]
    asg_name: str
    hook_name: str
    token: str | None = field(default=None, repr=False)
    destination: str | None = None  # "AutoScalingGroup" | "WarmPool" (warm pool events)


@dataclass(frozen=True)
class InstanceEvent:
    """Something happened to one instance."""

    instance_id: str
    state: str | None = None
    lifecycle: LifecycleAction | None = None


@dataclass(frozen=True)
class InstanceFact:
    """A fleet runner instance as EC2 describes it."""

    instance_id: str
    state: str
    runner_name: str
    pool: str
    tags: Mapping[str, str] = field(default_factory=dict)
    lifecycle_state: str | None = None  # Auto Scaling's, e.g. "InService", "Warmed:Running"

    @property
    def warmed(self) -> bool:
        return (self.lifecycle_state or "").startswith("Warmed:")


@dataclass(frozen=True)
class RunnerFact:
    id: int
    name: str
    status: str
    busy: bool


@dataclass(frozen=True)
class Facts:
    instances: Mapping[str, InstanceFact]
    parameters: Mapping[str, datetime | None]
    claimed: frozenset[str]
    runners: Mapping[str, RunnerFact] | None
    now: datetime


@dataclass(frozen=True)
class RegistrarSettings:
    """What the registrar registers, and where."""

    name: str
    owner: str
    repository: str | None
    github_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    ephemeral: bool = False
    labels: tuple[str, ...] = ()
    pool_labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The runner group by name (resolved by the GitHub client, cached per process); an
    # explicit id wins. "Default" is id 1, which GitHub uses when none is given.
    runner_group: str = "Default"
    runner_group_id: int | None = None
    parameter_grace: timedelta = timedelta(minutes=10)
    # Registration tokens live one hour: an unconsumed one is replaced before it expires.
    token_refresh: timedelta = timedelta(minutes=50)
    kms_key_id: str | None = None

    @property
    def jit_runner_group(self) -> str | None:
        """The group name to resolve, or None: an explicit id, or the Default group (id 1)."""
        if self.runner_group_id is not None or self.runner_group.casefold() == "default":
            return None
        return self.runner_group

    @property
    def registration_prefix(self) -> str:
        return f"/{self.name}/runners"

    @property
    def registration_url(self) -> str:
        """The URL a persistent runner's config.sh registers at (org or repo)."""
        scope = f"{self.owner}/{self.repository}" if self.repository else self.owner
        return f"{self.github_url.rstrip('/')}/{scope}"

    def labels_for(self, pool: str) -> list[str]:
        out: list[str] = []
        for label in (*DEFAULT_LABELS, *self.labels, *self.pool_labels.get(pool, ())):
            if label not in out:
                out.append(label)
        return out


# ---- actions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Issue:
    instance_id: str
    runner_name: str
    pool: str


@dataclass(frozen=True)
class DeleteParameter:
    instance_id: str
    reason: str


@dataclass(frozen=True)
class DeleteRunner:
    instance_id: str
    runner_id: int
    runner_name: str


@dataclass(frozen=True)
class Forget:
    instance_id: str


@dataclass(frozen=True)
class CompleteLifecycle:
    instance_id: str
    asg_name: str
    hook_name: str
    token: str | None = field(default=None, repr=False)
    result: Literal["CONTINUE", "ABANDON"] = "CONTINUE"


RegistrarAction = Issue | DeleteParameter | DeleteRunner | Forget | CompleteLifecycle


def _in_use(runners: Mapping[str, RunnerFact], name: str) -> bool:
    runner = runners.get(name)
    return runner is not None and (runner.busy or runner.status == "online")


def _host_completes(lc: LifecycleAction, inst: InstanceFact | None) -> bool:
    """A launch into the warm pool (Warmed:Pending:Wait): the host completes it itself at the
    end of its bootstrap (runnerfleet.agent.launched), since CONTINUE stops the instance."""
    if lc.transition != "launching":
        return False
    if lc.destination is not None:
        return lc.destination == "WarmPool"
    return inst is not None and inst.warmed


def decide(
    events: Sequence[InstanceEvent], facts: Facts, settings: RegistrarSettings, *, scan: bool
) -> list[RegistrarAction]:
    """Pure: what to do for these events given these facts (one entry per instance)."""
    by_id: dict[str, list[InstanceEvent]] = {}
    for ev in events:
        by_id.setdefault(ev.instance_id, []).append(ev)
    subjects = list(by_id)
    if scan:
        subjects += [i for i in sorted(facts.instances) if i not in by_id]
    actions: list[RegistrarAction] = []
    for instance_id in subjects:
        evs = by_id.get(instance_id, [])
        inst = facts.instances.get(instance_id)
        if inst is None and instance_id not in facts.parameters:
            continue  # not one of this fleet's runners
        transitions = {e.lifecycle.transition for e in evs if e.lifecycle}
        event_states = {e.state for e in evs if e.state}
        state = inst.state if inst else "terminated"
        gone = (
            state in GONE_STATES or "terminating" in transitions or bool(event_states & GONE_STATES)
        )
        live = not gone and (state in LIVE_STATES or "launching" in transitions)
        if live and inst is not None:
            registered = facts.runners is not None and _in_use(facts.runners, inst.runner_name)
            modified = facts.parameters.get(instance_id)
            stale_token = (
                not settings.ephemeral
                and modified is not None
                and modified <= facts.now - settings.token_refresh
            )
            into_warm_pool = any(
                e.lifecycle.transition == "launching" and e.lifecycle.destination == "WarmPool"
                for e in evs
                if e.lifecycle
            )
            finished = (
                scan
                and settings.ephemeral
                and ASG_NAME_TAG not in inst.tags
                and facts.runners is not None
                and inst.runner_name not in facts.runners
                and instance_id in facts.claimed
                and instance_id not in facts.parameters
            )
            if inst.warmed or into_warm_pool:
                pass  # registered when it leaves the warm pool (its JIT config would age)
            elif stale_token and not registered:
                actions.append(DeleteParameter(instance_id, "unused registration token expires"))
                actions.append(Forget(instance_id))
                actions.append(Issue(instance_id, inst.runner_name, inst.pool))
            elif finished:  # a static ephemeral host whose runner ran its job: the next one
                actions.append(Forget(instance_id))
                actions.append(Issue(instance_id, inst.runner_name, inst.pool))
            elif (
                instance_id not in facts.claimed
                and instance_id not in facts.parameters
                and not registered
            ):
                actions.append(Issue(instance_id, inst.runner_name, inst.pool))
        elif gone:
            if instance_id in facts.parameters:  # never read: its secret goes with the host
                actions.append(DeleteParameter(instance_id, "instance is gone"))
            if instance_id in facts.claimed:
                actions.append(Forget(instance_id))
        seen_hooks: set[tuple[str, str, str | None]] = set()
        for ev in evs:
            lc = ev.lifecycle
            if lc is None or (lc.asg_name, lc.hook_name, lc.token) in seen_hooks:
                continue
            seen_hooks.add((lc.asg_name, lc.hook_name, lc.token))
            if _host_completes(lc, inst):
                continue  # the host completes it when its bootstrap is done
            actions.append(CompleteLifecycle(instance_id, lc.asg_name, lc.hook_name, lc.token))
    return actions


# ---- executor ----------------------------------------------------------------------------
@dataclass
class Outcome:
    action: RegistrarAction
    ok: bool
    detail: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "actions": [
                {
                    "action": type(o.action).__name__,
                    "instance_id": o.action.instance_id,
                    "ok": o.ok,
                    "detail": o.detail,
                }
                for o in self.outcomes
            ],
        }


@dataclass
class Registrar:
    """Gathers facts, decides, acts. One per process: its GitHub client caches the App token."""

    settings: RegistrarSettings
    ec2: Any  # boto3 EC2 client
    ssm: Any  # boto3 SSM client
    github: RegistrarGitHubPort
    claims: Claims
    autoscaling: Any = None
    clock: Callable[[], float] = time.time
    store: RegistrationStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = RegistrationStore(
            self.ssm, self.settings.registration_prefix, self.settings.kms_key_id
        )

    # facts
    def _describe(self, instance_ids: Iterable[str] | None) -> dict[str, InstanceFact]:
        filters = [
            {"Name": f"tag:{FLEET_TAG}", "Values": [self.settings.name]},
            {"Name": f"tag:{ROLE_TAG}", "Values": ["runner"]},
        ]
        if instance_ids is not None:
            ids = sorted(set(instance_ids))
            if not ids:
                return {}
            filters.append({"Name": "instance-id", "Values": ids})
        out: dict[str, InstanceFact] = {}
        paginator = self.ec2.get_paginator("describe_instances")
        for page in paginator.paginate(Filters=filters):
            for res in page.get("Reservations", []):
                for inst in res.get("Instances", []):
                    tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                    iid = str(inst["InstanceId"])
                    out[iid] = InstanceFact(
                        instance_id=iid,
                        state=str(inst["State"]["Name"]),
                        runner_name=runner_name_for(tags, iid, self.settings.name),
                        pool=tags.get(POOL_TAG, "default"),
                        tags=tags,
                    )
        return out

    def _lifecycle_states(self, instances: dict[str, InstanceFact]) -> dict[str, InstanceFact]:
        """Auto Scaling's lifecycle state of live group members (warm pool: `Warmed:*`)."""
        ids = sorted(
            i for i, f in instances.items() if f.state in LIVE_STATES and ASG_NAME_TAG in f.tags
        )
        if not ids or self.autoscaling is None:
            return instances
        out = dict(instances)
        for n in range(0, len(ids), 50):
            resp = self.autoscaling.describe_auto_scaling_instances(InstanceIds=ids[n : n + 50])
            for row in resp.get("AutoScalingInstances", []):
                iid = str(row.get("InstanceId"))
                if iid in out:
                    out[iid] = replace(out[iid], lifecycle_state=str(row.get("LifecycleState")))
        return out

    def gather(self, events: Sequence[InstanceEvent], *, scan: bool) -> Facts:
        instances = self._describe(None if scan else [e.instance_id for e in events])
        instances = self._lifecycle_states(instances)
        parameters = {p.instance_id: p.last_modified for p in self.store.list()}
        live = [i for i, f in instances.items() if f.state in LIVE_STATES and i not in parameters]
        ids_gone = {e.instance_id for e in events if e.state in GONE_STATES} | {
            e.instance_id for e in events if e.lifecycle and e.lifecycle.transition == "terminating"
        }
        ids_gone |= {i for i, f in instances.items() if f.state in GONE_STATES}
        claimed = frozenset(i for i in {*live, *ids_gone} if self.claims.claimed(i))
        runners: dict[str, RunnerFact] | None = None
        if scan:  # the runner list only in the periodic pass, never per instance event
            runners = {
                r.name: RunnerFact(r.id, r.name, r.status, r.busy)
                for r in self.github.list_runners(self.settings.owner, self.settings.repository)
            }
        now = datetime.fromtimestamp(self.clock(), UTC)
        return Facts(instances, parameters, claimed, runners, now)

    # actions
    def handle(self, events: Sequence[InstanceEvent], *, scan: bool = False) -> Report:
        facts = self.gather(events, scan=scan)
        actions = decide(events, facts, self.settings, scan=scan)
        report = Report()
        failed_issue: set[str] = set()
        for action in actions:
            if isinstance(action, CompleteLifecycle) and action.instance_id in failed_issue:
                report.outcomes.append(
                    Outcome(action, False, "registration failed; lifecycle left pending")
                )
                continue
            try:
                detail = self._execute(action, facts)
                report.outcomes.append(Outcome(action, True, detail))
            except Exception as exc:  # reported per action; one failure must not stop others
                log.error("%s for %s failed: %s", type(action).__name__, action.instance_id, exc)
                report.outcomes.append(Outcome(action, False, f"{type(exc).__name__}: {exc}"))
                if isinstance(action, Issue):
                    failed_issue.add(action.instance_id)
        return report

    def run_once(self) -> Report:
        """A full scan: what the periodic schedule runs to catch missed events."""
        return self.handle([], scan=True)

    def _execute(self, action: RegistrarAction, facts: Facts) -> str:
        if isinstance(action, Issue):
            return self._issue(action, facts)
        if isinstance(action, DeleteParameter):
            gone = self.store.delete(action.instance_id)
            return f"deleted ({action.reason})" if gone else "already gone"
        if isinstance(action, DeleteRunner):
            self.github.delete_runner(
                self.settings.owner, self.settings.repository, action.runner_id
            )
            return f"deleted runner {action.runner_name}"
        if isinstance(action, Forget):
            self.claims.release(action.instance_id)
            return "claim released"
        return self._complete(action)

    def _issue(self, action: Issue, facts: Facts) -> str:
        s = self.settings
        if not self.claims.claim(action.instance_id, action.runner_name):
            return "already issued by another invocation"
        labels = s.labels_for(action.pool)
        try:
            if s.ephemeral:
                jit = self.github.generate_jit_config(
                    s.owner,
                    s.repository,
                    name=action.runner_name,
                    labels=labels,
                    runner_group_id=s.runner_group_id,
                    runner_group=s.jit_runner_group,
                )
                reg = Registration(
                    kind="jit",
                    runner_name=action.runner_name,
                    secret=jit.encoded_jit_config,
                    labels=tuple(labels),
                    runner_id=jit.runner.id,
                )
            else:
                tok = self.github.create_registration_token(s.owner, s.repository)
                reg = Registration(
                    kind="token",
                    runner_name=action.runner_name,
                    secret=tok.token,
                    url=s.registration_url,
                    labels=tuple(labels),
                    expires_at=tok.expires_at.isoformat(),
                )
            created = self.store.put(action.instance_id, reg.to_json())
        except Exception:
            self.claims.release(action.instance_id)
            raise
        self._tag(action, reg, facts)
        kind = "JIT config" if reg.kind == "jit" else "registration token"
        where = self.store.name_for(action.instance_id)
        return f"{kind} for {action.runner_name} at {where}" + ("" if created else " (existed)")

    def _tag(self, action: Issue, reg: Registration, facts: Facts) -> None:
        inst = facts.instances.get(action.instance_id)
        tags = []
        if inst is not None and RUNNER_NAME_TAG not in inst.tags:
            tags.append({"Key": RUNNER_NAME_TAG, "Value": action.runner_name})
        if reg.runner_id is not None:
            tags.append({"Key": RUNNER_ID_TAG, "Value": str(reg.runner_id)})
        if tags:
            try:
                self.ec2.create_tags(Resources=[action.instance_id], Tags=tags)
            except Exception as exc:  # tags are bookkeeping; the registration already exists
                log.warning("could not tag %s: %s", action.instance_id, exc)

    def _complete(self, action: CompleteLifecycle) -> str:
        if self.autoscaling is None:
            raise RuntimeError("no autoscaling client to complete the lifecycle action")
        args: dict[str, Any] = {
            "LifecycleHookName": action.hook_name,
            "AutoScalingGroupName": action.asg_name,
            "LifecycleActionResult": action.result,
            "InstanceId": action.instance_id,
        }
        if action.token:
            args["LifecycleActionToken"] = action.token
        self.autoscaling.complete_lifecycle_action(**args)
        return f"lifecycle {action.hook_name} completed with {action.result}"
