"""The fleet's I/O edge: reads Auto Scaling groups and runner instances, performs scaler actions.

Clients (boto3 `autoscaling` and `ec2`) are injected. Groups are found by their tags
(`runnerfleet:fleet=<name>`, `runnerfleet:pool=<pool>`), not by name, so the Terraform
module may name them as it likes. Nothing here writes to the groups' tags or any other
attribute Terraform manages: the cooldown timestamps live in the control plane's table
(runnerfleet.controlplane.job_table), so a scale event leaves `terraform plan` clean.
Every Auto Scaling and EC2 call of the scaler and the reconciler goes through this adapter
(`FleetPort`).

Action mapping:
- SetDesiredCapacity -> SetDesiredCapacity (HonorCooldown=False: the scaler keeps its own)
- ProtectInstances   -> SetInstanceProtection (in batches of 50, the API's limit)
- TerminateInstance  -> TerminateInstanceInAutoScalingGroup (ShouldDecrementDesiredCapacity)
- `replace(instance_id, decrement)` -> the same call; decrement False lets the group launch a
  replacement (the reconciler's healing).
  An instance that is already gone or terminating counts as done.
Each action succeeds or fails on its own; failures are reported, never raised.

Reading hosts at scale: DescribeInstances costs in proportion to the instances it returns
(about 1.4 ms per instance in botocore alone, 5,000 instances are 5 pages), so an Auto
Scaling fleet's hosts come from the instance lists DescribeAutoScalingGroups already returns
(id, lifecycle state, health, scale-in protection), and EC2's view of an instance (state,
launch time, tags) is kept per `Fleet` object (a Lambda container keeps it between passes).
DescribeInstances is asked, by instance id in batches of `DESCRIBE_BATCH`, only for what the
decisions need and may have changed:
- a member that is `InService` and `Healthy` with its runner (`<name>-runner-<pool>-<id>`)
  online in GitHub's last runner list (`runners_online`, given before `hosts` on a sync) is
  settled without describing it: it is `running` (a runner connected from it), in its
  group's pool, named so. What is not known then is `None`/absent: its launch time
  (`Instance.launched_at`) and its tags, so a decision that needs them waits (the boot
  grace, the scaler's idle time; scale-in of such a host waits until it is described) and
  none terminates on a guess. Such a host whose runner is idle is described on a later pass
  (at most `INFERRED_BATCH` a pass), so its idle time becomes known; one whose runner is
  busy needs nothing more until its runner goes idle, offline or away;
- other new instances; instances whose lifecycle state or health changed since they were
  described or settled, or that are not settled: described and settled is `InService`,
  `Healthy` and EC2 `running` with its runner online, so a booting host is read every pass
  until its runner is up (the registrar's `runnerfleet:github-runner-id` tag, the agent's
  `runnerfleet:agent-state=failed` are seen as before), and a host whose runner went
  offline is read again from the next GitHub sync on;
- static hosts (no group lists them): found on the first call by their pool tag
  (`runnerfleet:pool=static`, the runner-fleet module's static instances), then described
  by id on every pass;
- settled instances described (or settled undescribed) `REFRESH_PASSES` passes ago, at most
  `REFRESH_BATCH` a pass, so no tag stays stale for more than about an hour of minute passes.
A fleet without groups (static mode) is described whole on every pass, as before. Warm pool
instances are not in the group's instance list, so they are not hosts here (they have no
runner until they leave the warm pool).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from botocore.exceptions import ClientError

from runnerfleet.controlplane.scaler import (
    Group,
    Instance,
    ProtectInstances,
    ScalerAction,
    SetDesiredCapacity,
    TerminateInstance,
)
from runnerfleet.vocabulary import (
    ASG_NAME_TAG,
    DEFAULT_POOL,
    FLEET_TAG,
    POOL_TAG,
    ROLE_TAG,
    RUNNER_NAME_TAG,
    RUNNER_ROLE,
    SEEN_STATES,
    pool_runner_name,
    runner_name_for,
)

log = logging.getLogger(__name__)

PROTECT_BATCH = 50
DESCRIBE_BATCH = 100  # instance ids per DescribeInstances filter
REFRESH_PASSES = 60  # a settled instance is described again after this many passes
REFRESH_BATCH = 100  # ... at most this many a pass
INFERRED_BATCH = 500  # idle hosts known without describing: described at most this many a pass
SETTLED_LIFECYCLE = "InService"
SETTLED_HEALTH = "Healthy"
STATIC_POOL = "static"  # the runner-fleet module's pool tag on static instances


@dataclass(frozen=True)
class GroupInfo:
    """An Auto Scaling group of one pool."""

    name: str
    pool: str
    min_size: int
    max_size: int
    desired: int
    last_scale_out_at: float | None = None
    last_scale_in_at: float | None = None
    protected: frozenset[str] = frozenset()
    # (instance id, Auto Scaling lifecycle state, health status) of the group's instances
    members: tuple[tuple[str, str, str], ...] = field(default=(), compare=False, repr=False)

    def as_group(self) -> Group:
        return Group(self.pool, self.desired, self.last_scale_out_at, self.last_scale_in_at)


@dataclass(frozen=True)
class HostInfo:
    """A fleet runner instance with what the scaler and reconciler need of it."""

    instance: Instance
    asg_name: str | None
    tags: dict[str, str] = field(default_factory=dict)
    # False: known from its group and GitHub only (not described yet): no tags, no launch time
    described: bool = True


@dataclass
class Outcome:
    action: Any
    ok: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": type(self.action).__name__,
            **asdict(self.action),
            "ok": self.ok,
            "detail": self.detail,
        }


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class FleetPort(Protocol):
    """What the webhook processor, the scaler's executor and the reconciler need of the
    fleet (fakes in tests implement it)."""

    name: str

    def groups(self) -> dict[str, GroupInfo]: ...

    def hosts(self, groups: dict[str, GroupInfo] | None = None) -> list[HostInfo]: ...

    def execute(
        self, actions: Sequence[ScalerAction], groups: dict[str, GroupInfo], now: float
    ) -> list[Outcome]: ...

    def replace(self, instance_id: str, *, decrement: bool) -> str | None: ...


@dataclass
class _Seen:
    """EC2's view of one instance as last described (or settled without describing), with
    the group's (lifecycle state, health) then."""

    info: HostInfo
    member: tuple[str, str] | None
    passes: int  # the pass it was described (or settled undescribed) in


@dataclass
class Fleet:
    """One fleet's groups and instances (see module docstring)."""

    name: str
    autoscaling: Any
    ec2: Any
    _seen: dict[str, _Seen] = field(default_factory=dict, repr=False, compare=False)
    _static: set[str] = field(default_factory=set, repr=False, compare=False)
    _online: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    _busy: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    _passes: int = field(default=0, repr=False, compare=False)
    _described_all: bool = field(default=False, repr=False, compare=False)

    # ---- reading ---------------------------------------------------------------------
    def groups(self) -> dict[str, GroupInfo]:
        """The fleet's ASGs by pool."""
        out: dict[str, GroupInfo] = {}
        pages = self.autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            Filters=[{"Name": f"tag:{FLEET_TAG}", "Values": [self.name]}]
        )
        for page in pages:
            for g in page.get("AutoScalingGroups", []):
                tags = {t["Key"]: t["Value"] for t in g.get("Tags", [])}
                pool = tags.get(POOL_TAG)
                if not pool:
                    continue
                out[pool] = GroupInfo(
                    name=str(g["AutoScalingGroupName"]),
                    pool=pool,
                    min_size=int(g["MinSize"]),
                    max_size=int(g["MaxSize"]),
                    desired=int(g["DesiredCapacity"]),
                    protected=frozenset(
                        str(i["InstanceId"])
                        for i in g.get("Instances", [])
                        if i.get("ProtectedFromScaleIn")
                    ),
                    members=tuple(
                        (
                            str(i["InstanceId"]),
                            str(i.get("LifecycleState", "")),
                            str(i.get("HealthStatus", "")),
                        )
                        for i in g.get("Instances", [])
                    ),
                )
        return out

    def hosts(self, groups: dict[str, GroupInfo] | None = None) -> list[HostInfo]:
        """The fleet's runner instances (EC2 tags are the ground truth; module docstring)."""
        groups = self.groups() if groups is None else groups
        protected = frozenset().union(*(g.protected for g in groups.values()))
        if not groups:  # static mode: a few hosts, described whole every pass
            return sorted((h for h, _ in self._describe(None)), key=lambda h: h.instance.id)
        self._passes += 1
        members = {
            iid: (g, (state, health)) for g in groups.values() for iid, state, health in g.members
        }
        ask = set(self._static)
        settle: list[str] = []  # settled without describing: InService, Healthy, runner online
        idle: list[tuple[int, str]] = []  # settled undescribed with an idle runner
        due: list[tuple[int, str]] = []  # settled, up for the rolling refresh
        for iid, (group, member) in members.items():
            seen = self._seen.get(iid)
            if seen is None or seen.member != member or not self._settled(seen):
                # a described host is described again (its launch time and tags stay known)
                if (seen is None or not seen.info.described) and self._inferable(
                    iid, group, member
                ):
                    settle.append(iid)
                else:
                    ask.add(iid)
            elif self._passes - seen.passes >= REFRESH_PASSES:
                due.append((seen.passes, iid))
            elif not seen.info.described and seen.info.instance.runner_name not in self._busy:
                idle.append((seen.passes, iid))
        ask |= {i for _, i in sorted(idle)[:INFERRED_BATCH]}
        ask |= {i for _, i in sorted(due)[:REFRESH_BATCH]}
        if not self._described_all:  # first call: the static hosts, which no group lists
            for host, iid in self._describe(None, pool=STATIC_POOL):
                if host.asg_name is None:
                    self._seen[iid] = _Seen(host, None, self._passes)
            self._described_all = True
        if ask:
            for iid in ask:
                self._seen.pop(iid, None)  # gone unless described again just now
            for host, iid in self._describe(sorted(ask)):
                at = members.get(iid)
                self._seen[iid] = _Seen(host, at[1] if at else None, self._passes)
        self._static = {i for i, s in self._seen.items() if s.info.asg_name is None}
        for iid in settle:
            group, member = members[iid]
            self._seen[iid] = _Seen(self._inferred(iid, group), member, self._passes)
        keep = set(members) | self._static
        for iid in [i for i in self._seen if i not in keep]:
            del self._seen[iid]
        out = []
        for seen in self._seen.values():
            inst = seen.info.instance
            if inst.protected != (inst.id in protected):
                inst = replace(inst, protected=inst.id in protected)
                seen.info = replace(seen.info, instance=inst)
            out.append(seen.info)
        return sorted(out, key=lambda h: h.instance.id)

    def runners_online(self, names: Collection[str], busy: Collection[str] = ()) -> None:
        """The runner names GitHub's runner list shows online (busy or idle), and the busy
        ones: their hosts are settled, so a pass need not describe them (module docstring).
        Given before `hosts` on a pass that lists the runners."""
        self._online = frozenset(names)
        self._busy = frozenset(busy)

    def _settled(self, seen: _Seen) -> bool:
        inst = seen.info.instance
        return (
            seen.member == (SETTLED_LIFECYCLE, SETTLED_HEALTH)
            and inst.state == "running"
            and inst.runner_name in self._online
        )

    def _inferable(self, iid: str, group: GroupInfo, member: tuple[str, str]) -> bool:
        return (
            member == (SETTLED_LIFECYCLE, SETTLED_HEALTH)
            and pool_runner_name(self.name, group.pool, iid) in self._online
        )

    def _inferred(self, iid: str, group: GroupInfo) -> HostInfo:
        """A settled member not described (module docstring): running, launch time and
        tags unknown."""
        name = pool_runner_name(self.name, group.pool, iid)
        instance = Instance(iid, group.pool, "running", None, False, name)
        return HostInfo(instance, group.name, {}, described=False)

    def _describe(
        self, ids: Sequence[str] | None, pool: str | None = None
    ) -> Iterator[tuple[HostInfo, str]]:
        """DescribeInstances of the fleet's runner hosts (all, these ids, or this pool's), as
        HostInfo (protection is filled in by `hosts`)."""
        filters = [
            {"Name": f"tag:{FLEET_TAG}", "Values": [self.name]},
            {"Name": f"tag:{ROLE_TAG}", "Values": [RUNNER_ROLE]},
            {"Name": "instance-state-name", "Values": list(SEEN_STATES)},
        ]
        if pool is not None:
            filters.append({"Name": f"tag:{POOL_TAG}", "Values": [pool]})
        batches: list[list[dict[str, Any]]] = (
            [filters]
            if ids is None
            else [
                [{"Name": "instance-id", "Values": chunk}, *filters]
                for chunk in _chunks(ids, DESCRIBE_BATCH)
            ]
        )
        paginator = self.ec2.get_paginator("describe_instances")
        for batch in batches:
            for page in paginator.paginate(Filters=batch):
                for res in page.get("Reservations", []):
                    for inst in res.get("Instances", []):
                        iid = str(inst["InstanceId"])
                        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                        instance = Instance(
                            id=iid,
                            pool=tags.get(POOL_TAG, DEFAULT_POOL),
                            state=str(inst["State"]["Name"]),
                            launched_at=inst["LaunchTime"].timestamp(),
                            protected=False,
                            runner_name=runner_name_for(tags, iid, self.name),
                        )
                        yield HostInfo(instance, tags.get(ASG_NAME_TAG), tags), iid

    # ---- acting ----------------------------------------------------------------------
    def execute(
        self, actions: Sequence[ScalerAction], groups: dict[str, GroupInfo], now: float
    ) -> list[Outcome]:
        """Perform scaler actions; one Outcome per action, in order."""
        outcomes: list[Outcome] = []
        for action in actions:
            group = groups.get(action.pool)
            if group is None:
                outcomes.append(
                    Outcome(
                        action,
                        False,
                        f"no Auto Scaling group tagged {FLEET_TAG}={self.name}, "
                        f"{POOL_TAG}={action.pool}; is the pool deployed (`runnerfleet up`)?",
                    )
                )
                continue
            try:
                detail = self._perform(action, group, now)
                outcomes.append(Outcome(action, True, detail))
            except ClientError as exc:
                msg = f"{_error_code(exc)}: {_error_message(exc)}"
                log.error("%s on %s failed: %s", type(action).__name__, group.name, msg)
                outcomes.append(Outcome(action, False, msg))
        return outcomes

    def _perform(self, action: ScalerAction, group: GroupInfo, now: float) -> str:
        asg = self.autoscaling
        if isinstance(action, SetDesiredCapacity):
            asg.set_desired_capacity(
                AutoScalingGroupName=group.name,
                DesiredCapacity=action.desired,
                HonorCooldown=False,
            )
            return f"{group.name} desired {group.desired} -> {action.desired}"
        if isinstance(action, ProtectInstances):
            for batch in _chunks(action.instance_ids, PROTECT_BATCH):
                asg.set_instance_protection(
                    InstanceIds=batch,
                    AutoScalingGroupName=group.name,
                    ProtectedFromScaleIn=action.protected,
                )
            state = "protected" if action.protected else "unprotected"
            return f"{len(action.instance_ids)} instance(s) {state} in {group.name}"
        return self._terminate(action, group, now)

    def _terminate(self, action: TerminateInstance, group: GroupInfo, now: float) -> str:
        gone = self.replace(action.instance_id, decrement=True)
        return gone or f"{action.instance_id} terminating ({action.reason})"

    def replace(self, instance_id: str, *, decrement: bool) -> str | None:
        """Terminate an ASG host (decrement False: the group launches a replacement);
        returns a note when it was already gone, None when it is terminating now."""
        try:
            self.autoscaling.terminate_instance_in_auto_scaling_group(
                InstanceId=instance_id, ShouldDecrementDesiredCapacity=decrement
            )
        except ClientError as exc:
            text = _error_message(exc).lower()
            if _error_code(exc) == "ValidationError" and (
                "not found" in text or "terminat" in text
            ):
                return f"{instance_id} already gone"
            raise
        return None

    def tag_runner(self, instance_id: str, runner_name: str) -> None:
        """Record a host's runner name (hosts launched by an ASG start without it)."""
        self.ec2.create_tags(
            Resources=[instance_id], Tags=[{"Key": RUNNER_NAME_TAG, "Value": runner_name}]
        )
        seen = self._seen.get(instance_id)
        if seen is not None:  # our own write: the cached view follows it
            tags = {**seen.info.tags, RUNNER_NAME_TAG: runner_name}
            inst = replace(seen.info.instance, runner_name=runner_name)
            seen.info = replace(seen.info, instance=inst, tags=tags)
