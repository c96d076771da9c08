"""Simulated runner hosts: every fleet instance that reaches `running` in the AWS emulator boots.

`HostFleet.on_state(instance_id, state, tags)` is called by the supervisor's EC2 watcher. A
runner instance of the fleet (tags runnerfleet:fleet and runnerfleet:role=runner) that is
running boots after the boot model's delay (`boot_seconds`, AWS seconds, compressed by the
clock factor) the way a real host boots (runnerfleet.sandboxrt.hostproc): from its own user
data, it downloads the agent artifact with the instance role's credentials, refuses it unless
its SHA-256 matches, installs it with the host's install-agent.sh under Python 3.10 (one venv
per artifact digest, shared by the hosts) and starts the systemd unit's `runnerfleet-agent` as
a process, which gets the instance role's credentials from a loopback IMDSv2 (IAM applies to
the agent as on EC2) and runs the runner stand-in, which takes jobs from the GitHub emulator.
An instance that goes shutting-down or terminated stops its host (SIGTERM: the agent drains
like a shutdown; SIGKILL after `STOP_GRACE_SECONDS`); `stop_all` stops every host.

Host states (`summary()`): booting (the boot model), starting (installing, agent starting or
waiting for its registration), online (the agent reported its runner online), failed (a boot
step or the agent failed; `detail` says which), stopped (the instance went).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from runnerfleet.sandboxrt import hostproc
from runnerfleet.sandboxrt.lambdas import AssumeRole
from runnerfleet.sandboxrt.triggers import Clock

log = logging.getLogger("runnerfleet.sandbox.hosts")

GONE = ("shutting-down", "terminated", "stopping", "stopped")
STOP_GRACE_SECONDS = 20.0  # a terminated instance's agent drains within this (real seconds)
STOP_ALL_SECONDS = 3.0  # the sandbox stopping: every agent at once (the supervisor has 5 s)
AGENT_POLL_SECONDS = 5.0  # the agent's default poll interval, compressed by the clock


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
    runner: str | None = None
    proc: hostproc.AgentProcess | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class HostFleet:
    """The simulated hosts of one sandbox (one agent process, and its watching thread, per
    host; one loopback IMDS for all)."""

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
        venv_root: Path | None = None,
    ) -> None:
        self.jobs_file = jobs_file or workdir.parent / "jobs.json"
        self.workdir = workdir
        self.region, self.endpoint = region, endpoint
        self._admin, self._assume = admin, assume
        self.clock, self.boot_seconds = clock, boot_seconds
        self.facts: FleetFacts | None = None
        self.hosts: dict[str, HostRecord] = {}
        self.venv_root = venv_root  # None: ~/.cache/runnerfleet/agent-venvs
        self._lock = threading.Lock()
        self._imds: hostproc.HostImds | None = None
        self._changed = threading.Condition()
        # One botocore session for every host's S3 client: a new boto3.Session per host loaded
        # the endpoint rules and the S3 model again (about a third of the supervisor's CPU in
        # the e2e jobs test, py-spy). Each client still signs with its own host's credentials.
        self._session = boto3.Session(region_name=region)
        self._session_lock = threading.Lock()  # a Session is not thread-safe; its clients are

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
    def _instance(self, instance_id: str) -> dict[str, Any]:
        ec2 = self._admin("ec2")
        found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
        inst: dict[str, Any] = found["Instances"][0]
        return inst

    def _instance_role(self, instance_id: str, inst: Mapping[str, Any]) -> str:
        """The ARN of the instance profile's role (what IMDS hands out credentials of)."""
        profile_ref = (inst.get("IamInstanceProfile") or {}).get("Arn", "")
        if not profile_ref:
            profile_ref = self._template_profile(instance_id)
        if not profile_ref:
            raise hostproc.HostBootError(
                f"instance {instance_id} has no instance profile; it gets no role"
            )
        profile = self._admin("iam").get_instance_profile(
            InstanceProfileName=profile_ref.rsplit("/", 1)[-1]
        )["InstanceProfile"]
        roles = profile.get("Roles", [])
        if not roles:
            raise hostproc.HostBootError(f"instance profile {profile['Arn']} holds no role")
        return str(roles[0]["Arn"])

    def _user_data(self, instance_id: str) -> str:
        """The instance's user data (cloud-init text); the launch template's when EC2 (moto)
        shows none on the instance."""
        attr = self._admin("ec2").describe_instance_attribute(
            InstanceId=instance_id, Attribute="userData"
        )
        raw = str((attr.get("UserData") or {}).get("Value") or "")
        if not raw:
            raw = str(self._template_data(instance_id).get("UserData") or "")
        if not raw:
            raise hostproc.HostBootError(f"instance {instance_id} has no user data")
        return hostproc.decode_user_data(raw)

    def _template_profile(self, instance_id: str) -> str:
        ref = self._template_data(instance_id).get("IamInstanceProfile") or {}
        return str(ref.get("Arn") or ref.get("Name") or "")

    def _template_data(self, instance_id: str) -> dict[str, Any]:
        """The LaunchTemplateData the instance's group launched it from ({} for none).

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
                data: dict[str, Any] = v.get("LaunchTemplateData") or {}
                if data:
                    return data
        return {}

    def _boot(self, rec: HostRecord, facts: FleetFacts) -> None:
        time.sleep(self.clock.real(self.boot_seconds))  # the boot model: cloud-init, packages
        if rec.state == "stopped":
            return
        rec.state, rec.since = "starting", time.time()
        self._notify()
        try:
            self._start_host(rec, facts)
        except Exception as exc:
            detail = str(exc) if isinstance(exc, hostproc.HostBootError) else repr(exc)
            with rec.lock:
                if rec.state != "stopped":
                    rec.state, rec.detail = "failed", detail
                    self._notify()
            log.error("host %s did not boot: %s", rec.instance_id, detail)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, instance_id: str, states: Sequence[str], timeout: float) -> str | None:
        """Block until the host's state is one of `states` (or `timeout`); returns its state."""

        def current() -> str | None:
            rec = self.hosts.get(instance_id)
            return rec.state if rec is not None else None

        with self._changed:
            self._changed.wait_for(lambda: current() in states, timeout=timeout)
        return current()

    def imds(self) -> hostproc.HostImds:
        with self._lock:
            if self._imds is None:
                self._imds = hostproc.HostImds()
            return self._imds

    def _start_host(self, rec: HostRecord, facts: FleetFacts) -> None:
        """Steps 1-5 of runnerfleet.sandboxrt.hostproc for one instance."""
        del facts  # the host's settings come from its own user data, as on EC2
        iid = rec.instance_id
        host_dir = self.workdir / iid
        host_dir.mkdir(parents=True, exist_ok=True)
        boot_log = host_dir / "user-data.log"
        role_arn = self._instance_role(iid, self._instance(iid))
        imds = self.imds()
        endpoint = imds.add(iid, role_arn.rsplit("/", 1)[-1], lambda: self._assume(role_arn, iid))
        files = hostproc.host_files(self._user_data(iid))
        missing = [p for p in (hostproc.HOST_ENV, hostproc.INSTALL_AGENT) if p not in files]
        if missing:
            raise hostproc.HostBootError(f"the user data writes no {', '.join(missing)}")
        host_env_file = host_dir / "host.env"
        host_env_file.write_text(files[hostproc.HOST_ENV], encoding="utf-8")
        host_env = hostproc.parse_env_file(files[hostproc.HOST_ENV])
        need = ("RUNNERFLEET_AGENT_BUCKET", "RUNNERFLEET_AGENT_KEY", "RUNNERFLEET_AGENT_SHA256")
        absent = [k for k in need if not host_env.get(k)]
        if absent:
            raise hostproc.HostBootError(f"host.env sets no {', '.join(absent)}")
        creds = imds.credentials(iid)  # the instance role's, as `aws s3 cp` gets them
        with self._session_lock:
            s3 = self._session.client(
                "s3", endpoint_url=self.endpoint, aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["Token"],
            )  # fmt: skip
        artifact = host_dir / "agent.tar.gz"
        try:
            digest = hostproc.fetch_artifact(
                s3, host_env["RUNNERFLEET_AGENT_BUCKET"], host_env["RUNNERFLEET_AGENT_KEY"],
                host_env["RUNNERFLEET_AGENT_SHA256"], artifact, boot_log,
            )  # fmt: skip
            venv_dir = hostproc.agent_venv(
                artifact, digest, install_script=files[hostproc.INSTALL_AGENT],
                host_env=host_env_file, log=boot_log, root=self.venv_root,
            )  # fmt: skip
        finally:
            artifact.unlink(missing_ok=True)
        runner_dir = host_dir / "actions-runner"
        hostproc.install_standin(runner_dir, self.jobs_file, self.clock.factor)
        poll = max(0.2, min(AGENT_POLL_SECONDS, AGENT_POLL_SECONDS / self.clock.factor))
        env = {
            **host_env,
            "PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(host_dir),
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint,
            "AWS_CONFIG_FILE": str(host_dir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(host_dir / "no-aws-credentials"),
            "RUNNERFLEET_STATE_DIR": str(host_dir),
            "RUNNERFLEET_RUNNER_DIR": str(runner_dir),
            "RUNNERFLEET_RUNNER_USER": "",
            "RUNNERFLEET_POLL_INTERVAL": f"{poll:g}",
        }
        proc = hostproc.AgentProcess(
            [str(venv_dir / "bin" / "runnerfleet-agent")], env, cwd=host_dir,
            log_path=host_dir / "agent.log",
            on_state=lambda state, detail: self._on_agent_state(rec, state, detail),
            on_exit=lambda code, tail: self._on_agent_exit(rec, code, tail),
        )  # fmt: skip
        with rec.lock:
            if rec.state == "stopped":
                return
            rec.proc = proc
            proc.start(f"host-{iid}")
        log.info("host %s: agent pid %s from %s", iid, proc.pid, venv_dir)

    def _on_agent_state(self, rec: HostRecord, state: str, detail: str) -> None:
        with rec.lock:
            if rec.state in ("stopped", "failed"):
                return
            if state == "online":
                rec.state, rec.since, rec.detail = "online", time.time(), ""
                self._notify()
                log.info("host %s: runner %s online", rec.instance_id, self._runner(rec))
            elif state == "failed":
                rec.state, rec.detail = "failed", detail or "the agent reported failed"
                self._notify()
                log.error("host %s: agent failed: %s", rec.instance_id, rec.detail)

    def _on_agent_exit(self, rec: HostRecord, code: int, tail: list[str]) -> None:
        with rec.lock:
            if rec.state == "stopped" or code == 0:
                log.info("host %s: agent exited %d", rec.instance_id, code)
                return
            errors = [x for x in tail if x.startswith(("ERROR", "CRITICAL", "Traceback"))]
            why = (errors or tail or ["no output"])[-1]
            if rec.state != "failed":
                rec.state, rec.detail = "failed", f"agent exited {code}: {why}"
                self._notify()
            log.error("host %s: agent exited %d: %s", rec.instance_id, code, why)

    def _runner(self, rec: HostRecord) -> str | None:
        """The runner's name from the agent's status file (its own health report)."""
        if rec.runner is None:
            path = self.workdir / rec.instance_id / "status" / "status.json"
            try:
                rec.runner = json.loads(path.read_text(encoding="utf-8")).get("runner_name")
            except (OSError, ValueError, AttributeError):
                return None
        return rec.runner

    def _shutdown(self, rec: HostRecord) -> None:
        with rec.lock:
            rec.state, rec.since = "stopped", time.time()
            self._notify()
            proc = rec.proc
        if proc is not None:
            proc.stop(STOP_GRACE_SECONDS)
        if self._imds is not None:
            self._imds.remove(rec.instance_id)
        log.info("host %s stopped (instance gone)", rec.instance_id)

    def stop_all(self) -> None:
        """The sandbox stops: SIGTERM every agent at once, SIGKILL what is left after
        STOP_ALL_SECONDS, then close the IMDS. No agent or runner process is left."""
        with self._lock:
            recs = list(self.hosts.values())
        procs = []
        for rec in recs:
            with rec.lock:
                rec.state = "stopped"
                self._notify()
                if rec.proc is not None:
                    procs.append(rec.proc)
        for proc in procs:
            proc.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_ALL_SECONDS
        for proc in procs:
            if not proc.wait(max(0.0, deadline - time.monotonic())):
                proc.kill()
        with self._lock:
            imds, self._imds = self._imds, None
        if imds is not None:
            imds.close()

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"instance_id": r.instance_id, "pool": r.pool, "state": r.state, "since": r.since,
             "detail": r.detail, "runner": self._runner(r),
             "pid": r.proc.pid if r.proc is not None and r.proc.running() else None}
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
