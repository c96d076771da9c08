"""In-process simulated runner hosts (tests, and the sandbox's deregistration before destroy).

The sandbox runtime's hosts are not these: they boot as real hosts do, the agent installed
from the host artifact under Python 3.10 and run as a process (runnerfleet.sandboxrt.hosts and
runnerfleet.sandboxrt.hostproc). Here, for each running runner instance of the fleet in the
AWS emulator, `simulate_hosts` runs the REAL agent (`runnerfleet.agent.agent.Agent`) in a
thread, with an in-process IMDS that knows the instance id and the stand-in runner
(`runnerfleet.agent.standin`) in place of the actions
runner binary. The agent reads and deletes its SSM registration, starts the stand-in, and the
stand-in brings the runner online in the GitHub emulator.

`sandbox_bring_online` / `sandbox_deregister` / `sandbox_list_runners` are what
`runnerfleet.deploy` calls in the sandbox after apply and before destroy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runnerfleet.agent import standin
from runnerfleet.agent.agent import Agent
from runnerfleet.agent.decisions import Backoff, State
from runnerfleet.agent.launcher import SubprocessLauncher
from runnerfleet.agent.settings import AgentSettings
from runnerfleet.vocabulary import is_fleet_runner

Reporter = Callable[[str], None]

# Hosts simulated by this process (their agents run in daemon threads), by workdir.
_LIVE: dict[Path, list[SimulatedHost]] = {}


def _noop(_: str) -> None:
    return None


@dataclass
class StaticImds:
    """An in-process IMDS for one simulated instance; tests may set a spot notice."""

    instance: str
    spot: str | None = None
    lifecycle: str | None = None

    def instance_id(self) -> str:
        return self.instance

    def spot_action(self) -> str | None:
        return self.spot

    def lifecycle_state(self) -> str | None:
        return self.lifecycle


@dataclass
class SimulatedHost:
    """One simulated host: its agent runs in `thread`; `final` is set when the agent returns."""

    instance_id: str
    agent: Agent
    imds: StaticImds
    host_dir: Path
    thread: threading.Thread | None = None
    final: State | None = None
    error: BaseException | None = None
    seen_online: bool | None = None
    _done: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        try:
            self.final = self.agent.run()
        except BaseException as exc:  # reported to the caller, never swallowed
            self.error = exc
        finally:
            self._done.set()

    @property
    def states(self) -> list[str]:
        return list(self.agent.health.history)

    @property
    def online(self) -> bool:
        """The agent saw its runner online (and, when checked, GitHub lists it online)."""
        return State.ONLINE.value in self.agent.health.history and self.seen_online is not False

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Drain like a shutdown: the agent stops the stand-in, which goes offline."""
        self.agent.stop_event.set()
        self._done.wait(timeout)


def fleet_instances(ec2: Any, name: str) -> list[str]:
    """Running runner instances of the fleet, in runner-name order."""
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:runnerfleet:fleet", "Values": [name]},
            {"Name": "tag:runnerfleet:role", "Values": ["runner"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    found: list[tuple[str, str]] = []
    for page in pages:
        for res in page["Reservations"]:
            for inst in res["Instances"]:
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                found.append((tags.get("runnerfleet:runner-name", ""), inst["InstanceId"]))
    return [iid for _, iid in sorted(found)]


def simulate_hosts(
    *,
    ec2: Any,
    ssm: Any,
    name: str,
    workdir: Path,
    region: str = "us-east-1",
    ephemeral: bool = False,
    labels: Sequence[str] = ("self-hosted", "linux", "x64"),
    autoscaling: Any = None,
    instance_ids: Sequence[str] | None = None,
    github_base_url: str | None = None,
    owner: str | None = None,
    repo: str | None = None,
    timeout: float = 60.0,
    detach: bool = False,
    report: Reporter = _noop,
) -> list[SimulatedHost]:
    """Run the real agent for each running runner instance; return once each is online.

    The registrar must have written (or be about to write) each instance's registration. With
    `detach`, the stand-in runners outlive this process (sandbox), their pids kept in
    `<workdir>/<instance-id>/runner.pid` for `stop_detached`. Hosts that fail or time out are
    returned too; check `.online`, `.final` and `.error`. With `github_base_url` and `owner`
    (and `repo` for repository runners), a host counts as online only once the GitHub emulator
    lists its runner as online.
    """
    ids = list(instance_ids) if instance_ids is not None else fleet_instances(ec2, name)
    hosts: list[SimulatedHost] = []
    for iid in ids:
        host_dir = workdir / iid
        runner_dir = host_dir / "actions-runner"
        standin.install(runner_dir)
        settings = AgentSettings(
            name=name,
            region=region,
            registration_parameter_prefix=f"/{name}/runners",
            runner_dir=runner_dir,
            ephemeral=ephemeral,
            labels=tuple(labels),
            runner_user=None,
            status_dir=host_dir / "status",
            state_file=host_dir / "agent-state.json",
            poll_interval=0.1,
            registration_timeout=timeout,
            online_grace=timeout,
            drain_grace=10.0,
            config_timeout=60.0,
            start_backoff=Backoff(base=0.2, cap=2.0, attempts=5),
            wait_backoff=Backoff(base=0.2, cap=1.0, attempts=0),
        )
        imds = StaticImds(iid)
        launcher = SubprocessLauncher(
            runner_dir,
            user=None,
            start_new_session=detach,
            pid_file=host_dir / "runner.pid",
        )
        agent = Agent(
            settings=settings,
            ssm=ssm,
            ec2=ec2,
            imds=imds,
            launcher=launcher,
            autoscaling=autoscaling,
        )
        host = SimulatedHost(iid, agent, imds, host_dir)
        host.thread = threading.Thread(target=host._run, name=f"agent-{iid}", daemon=True)
        host.thread.start()
        hosts.append(host)
        _LIVE.setdefault(workdir.resolve(), []).append(host)
        report(f"simulated host {iid}: agent started")
    deadline = time.monotonic() + timeout
    for host in hosts:
        while not host.online and not host._done.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
    if github_base_url and owner:
        _confirm_in_emulator(hosts, github_base_url, owner, repo, deadline)
    for host in hosts:
        status = "online" if host.online else (host.final or "not online")
        report(f"simulated host {host.instance_id}: {status}")
    return hosts


def _confirm_in_emulator(
    hosts: list[SimulatedHost], base_url: str, owner: str, repo: str | None, deadline: float
) -> None:
    from runnerfleet.github.emulator import EmulatorControl

    with EmulatorControl(base_url) as control:
        while True:
            online = {r.name for r in control.runners(owner, repo) if r.status == "online"}
            for host in hosts:
                host.seen_online = host.agent.health.runner_name in online
            if all(h.seen_online for h in hosts) or time.monotonic() >= deadline:
                return
            time.sleep(0.1)


def _is_standin(pid: int) -> bool:
    """Only signal our own stand-ins, never a process that reused the pid."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"runnerfleet.agent.standin" in cmdline


def stop_detached(workdir: Path) -> int:
    """Stop the simulated hosts of `workdir`: this process's agents (drained like a shutdown)
    and detached stand-in runners left by earlier processes; returns how many."""
    stopped = 0
    for host in _LIVE.pop(workdir.resolve(), []):
        if not host._done.is_set():
            host.stop()
            stopped += 1
    for pid_file in workdir.glob("*/runner.pid"):
        try:
            pid = int(pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            continue
        if _is_standin(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGINT)
                stopped += 1
        pid_file.unlink(missing_ok=True)
    return stopped


# ---- the sandbox's entry points (called by runnerfleet.deploy) ----------------------------
def _sandbox_parts(cfg: Any, target: Any) -> tuple[Any, str, Path]:
    from runnerfleet.controlplane.sandbox import sandbox_registrar

    registrar, base_url = sandbox_registrar(cfg, target)
    return registrar, base_url, Path(target.home) / "hosts"


def sandbox_bring_online(cfg: Any, target: Any, report: Reporter = _noop) -> list[dict[str, Any]]:
    """After apply: run the registrar once, then a simulated host per runner instance."""
    registrar, _base_url, workdir = _sandbox_parts(cfg, target)
    stop_detached(workdir)
    result = registrar.run_once()
    for outcome in result.outcomes:
        what = type(outcome.action).__name__
        report(f"registrar: {what} {outcome.action.instance_id}: {outcome.detail}")
    hosts = simulate_hosts(
        ec2=target.client("ec2"),
        ssm=target.client("ssm"),
        name=cfg.name,
        workdir=workdir,
        region=cfg.aws.region,
        ephemeral=cfg.runners.ephemeral,
        labels=registrar.settings.labels_for("static"),
        autoscaling=target.client("autoscaling"),
        detach=True,
        report=report,
    )
    return [
        {
            "instance_id": h.instance_id,
            "runner_name": h.agent.health.runner_name,
            "online": h.online,
            "state": h.states[-1] if h.states else None,
        }
        for h in hosts
    ]


def sandbox_deregister(cfg: Any, target: Any, report: Reporter = _noop) -> int:
    """Before destroy: stop the stand-ins and remove the fleet's runners from the emulator."""
    registrar, _base_url, workdir = _sandbox_parts(cfg, target)
    stopped = stop_detached(workdir)
    if stopped:
        report(f"stopped {stopped} simulated runner(s)")
    removed = 0
    s = registrar.settings
    for runner in registrar.github.list_runners(s.owner, s.repository):
        if is_fleet_runner(cfg.name, runner.name) and not runner.busy:
            registrar.github.delete_runner(s.owner, s.repository, runner.id)
            removed += 1
    report(f"removed {removed} runner(s) from the GitHub emulator")
    return removed


def sandbox_list_runners(cfg: Any, target: Any) -> list[dict[str, Any]]:
    """The fleet's runners in the GitHub emulator."""
    registrar, _base_url, _workdir = _sandbox_parts(cfg, target)
    s = registrar.settings
    return sorted(
        (
            {"id": r.id, "name": r.name, "status": r.status, "busy": r.busy, "labels": r.labels}
            for r in registrar.github.list_runners(s.owner, s.repository)
            if is_fleet_runner(cfg.name, r.name)
        ),
        key=lambda r: str(r["name"]),
    )
