"""Simulated runner hosts: every fleet instance that reaches `running` in the AWS emulator boots.

`HostFleet.on_state(instance_id, state)` is called by the supervisor's EC2 watcher. A runner
instance of the fleet (tags runnerfleet:fleet and runnerfleet:role=runner) that is running
boots after the boot model's delay (`boot_seconds`, AWS seconds, compressed by the clock
factor): its agent runs (runnerfleet.agent.simulate: the real agent with the runner
stand-in, which takes jobs from the GitHub emulator) with AWS clients holding the
credentials of the instance profile's role (sts:AssumeRole in the emulator, as the instance
metadata service would hand them out), so IAM applies to the agent as on EC2. An instance
that goes shutting-down or terminated stops its host (the agent drains like a shutdown).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from runnerfleet.sandboxrt.lambdas import AssumeRole
from runnerfleet.sandboxrt.triggers import Clock

log = logging.getLogger("runnerfleet.sandbox.hosts")

GONE = ("shutting-down", "terminated", "stopping", "stopped")


@dataclass(frozen=True)
class FleetFacts:
    """What a host of the fleet is configured with (from the stack's functions' settings)."""

    name: str
    ephemeral: bool = False
    labels: tuple[str, ...] = ("self-hosted", "linux", "x64")
    pool_labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class HostRecord:
    instance_id: str
    pool: str
    state: str = "booting"  # booting | starting | online | failed | stopped
    since: float = field(default_factory=time.time)
    detail: str = ""
    sim: Any = None  # runnerfleet.agent.simulate.SimulatedHost


class HostFleet:
    """The simulated hosts of one sandbox (one thread per host)."""

    def __init__(
        self,
        *,
        workdir: Path,
        region: str,
        endpoint: str,
        admin: Callable[[str], Any],
        assume: AssumeRole,
        clock: Clock,
        boot_seconds: float = 20.0,
        jobs_file: Path | None = None,
    ) -> None:
        self.jobs_file = jobs_file or workdir.parent / "jobs.json"
        self.workdir = workdir
        self.region, self.endpoint = region, endpoint
        self._admin, self._assume = admin, assume
        self.clock, self.boot_seconds = clock, boot_seconds
        self.facts: FleetFacts | None = None
        self.hosts: dict[str, HostRecord] = {}
        self._lock = threading.Lock()

    # ---- events ----------------------------------------------------------------------------
    def on_state(self, instance_id: str, state: str, tags: Mapping[str, str]) -> None:
        facts = self.facts
        if facts is None or tags.get("runnerfleet:fleet") != facts.name:
            return
        if tags.get("runnerfleet:role") != "runner":
            return
        with self._lock:
            known = self.hosts.get(instance_id)
            if state == "running" and known is None:
                rec = HostRecord(instance_id, tags.get("runnerfleet:pool", ""))
                self.hosts[instance_id] = rec
                threading.Thread(
                    target=self._boot, args=(rec, facts), name=f"boot-{instance_id}", daemon=True
                ).start()
            elif state in GONE and known is not None and known.state != "stopped":
                threading.Thread(
                    target=self._shutdown, args=(known,), name=f"stop-{instance_id}", daemon=True
                ).start()

    # ---- one host --------------------------------------------------------------------------
    def _instance_clients(self, instance_id: str) -> Callable[[str], Any]:
        """AWS clients with the instance role's credentials (what IMDS would give the host)."""
        ec2 = self._admin("ec2")
        inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        profile_ref = (inst.get("IamInstanceProfile") or {}).get("Arn", "")
        if not profile_ref:
            profile_ref = self._template_profile(instance_id)
        if not profile_ref:
            raise RuntimeError(f"instance {instance_id} has no instance profile; it gets no role")
        profile = self._admin("iam").get_instance_profile(
            InstanceProfileName=profile_ref.rsplit("/", 1)[-1]
        )["InstanceProfile"]
        profile_arn = profile["Arn"]
        roles = profile.get("Roles", [])
        if not roles:
            raise RuntimeError(f"instance profile {profile_arn} holds no role")
        creds = self._assume(roles[0]["Arn"], instance_id)
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=self.region,
        )

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

        return client

    def _template_profile(self, instance_id: str) -> str:
        """The instance profile of the launch template the instance's group launched it from.

        moto does not copy a launch template's IamInstanceProfile onto the instances an Auto
        Scaling group launches (DESIGN.md's emulator gaps); EC2 does, so the host gets it here.
        """
        asg = self._admin("autoscaling")
        found = asg.describe_auto_scaling_instances(InstanceIds=[instance_id])
        for item in found.get("AutoScalingInstances", []):
            lt = item.get("LaunchTemplate") or {}
            if not lt:
                groups = asg.describe_auto_scaling_groups(
                    AutoScalingGroupNames=[item["AutoScalingGroupName"]]
                )["AutoScalingGroups"]
                g = groups[0] if groups else {}
                lt = g.get("LaunchTemplate") or (
                    (g.get("MixedInstancesPolicy") or {})
                    .get("LaunchTemplate", {})
                    .get("LaunchTemplateSpecification", {})
                )
            if not lt:
                continue
            key = (
                {"LaunchTemplateId": lt["LaunchTemplateId"]}
                if lt.get("LaunchTemplateId")
                else {"LaunchTemplateName": lt["LaunchTemplateName"]}
            )
            version = str(lt.get("Version") or "$Default")
            versions = self._admin("ec2").describe_launch_template_versions(
                **key, Versions=[version]
            )["LaunchTemplateVersions"]
            for v in versions:
                ref = (v.get("LaunchTemplateData") or {}).get("IamInstanceProfile") or {}
                value = ref.get("Arn") or ref.get("Name") or ""
                if value:
                    return str(value)
        return ""

    def _labels(self, facts: FleetFacts, pool: str) -> tuple[str, ...]:
        extra = tuple(facts.pool_labels.get(pool, ()))
        return tuple(dict.fromkeys((*facts.labels, *extra)))

    def _boot(self, rec: HostRecord, facts: FleetFacts) -> None:
        from runnerfleet.agent.simulate import simulate_hosts

        time.sleep(self.clock.real(self.boot_seconds))  # the boot model: cloud-init, installs
        if rec.state == "stopped":
            return
        rec.state, rec.since = "starting", time.time()
        try:
            client = self._instance_clients(rec.instance_id)
            runner_dir = self.workdir / rec.instance_id / "actions-runner"
            runner_dir.mkdir(parents=True, exist_ok=True)
            (runner_dir / ".sandbox-jobs").write_text(  # job durations (agent/standin.py)
                json.dumps({"jobs_file": str(self.jobs_file), "clock": self.clock.factor}),
                encoding="utf-8",
            )
            hosts = simulate_hosts(
                ec2=client("ec2"),
                ssm=client("ssm"),
                autoscaling=client("autoscaling"),
                name=facts.name,
                workdir=self.workdir,
                region=self.region,
                ephemeral=facts.ephemeral,
                labels=self._labels(facts, rec.pool),
                instance_ids=[rec.instance_id],
                timeout=300.0,
            )
        except Exception as exc:
            rec.state, rec.detail = "failed", f"{type(exc).__name__}: {exc}"
            log.error("host %s did not boot: %s", rec.instance_id, rec.detail)
            return
        rec.sim = hosts[0]
        if rec.state == "stopped":
            rec.sim.stop()
            return
        if rec.sim.online:
            rec.state, rec.since = "online", time.time()
            log.info("host %s: runner %s online", rec.instance_id, rec.sim.agent.health.runner_name)
        else:
            rec.state = "failed"
            rec.detail = str(rec.sim.error or rec.sim.final or "runner never came online")
            log.error("host %s: %s (states %s)", rec.instance_id, rec.detail, rec.sim.states)

    def _shutdown(self, rec: HostRecord) -> None:
        rec.state, rec.since = "stopped", time.time()
        if rec.sim is not None:
            rec.sim.stop()
        log.info("host %s stopped (instance gone)", rec.instance_id)

    def stop_all(self) -> None:
        with self._lock:
            recs = list(self.hosts.values())
        live = [r for r in recs if r.state != "stopped"]
        for rec in live:  # every agent drains at once (the sandbox is stopping)
            rec.state = "stopped"
            if rec.sim is not None:
                rec.sim.agent.stop_event.set()
        for rec in live:
            if rec.sim is not None:
                rec.sim.wait(3.0)

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"instance_id": r.instance_id, "pool": r.pool, "state": r.state, "since": r.since,
             "detail": r.detail,
             "runner": r.sim.agent.health.runner_name if r.sim is not None else None}
            for r in sorted(self.hosts.values(), key=lambda r: r.since)
        ]  # fmt: skip


def facts_from_env(env: Mapping[str, str]) -> FleetFacts:
    """The fleet's host settings from a control-plane function's environment."""
    labels: Sequence[str] = [x for x in env.get("RUNNERFLEET_RUNNER_LABELS", "").split(",") if x]
    pools = json.loads(env.get("RUNNERFLEET_POOL_LABELS") or "{}")
    return FleetFacts(
        name=env.get("RUNNERFLEET_NAME", ""),
        ephemeral=env.get("RUNNERFLEET_EPHEMERAL", "false").lower() == "true",
        labels=tuple(labels) or ("self-hosted", "linux", "x64"),
        pool_labels={str(k): tuple(str(x) for x in v) for k, v in pools.items()},
    )
