"""Sandbox simulated hosts: the real agent + stand-in runner bring the fleet online."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hosts_support import OWNER, REPO, launch_runners

from runnerfleet.agent.decisions import State
from runnerfleet.agent.simulate import simulate_hosts
from runnerfleet.controlplane.registrar import Registrar
from runnerfleet.github.emulator import GitHubEmulator


def test_two_static_instances_come_online_with_seed_names(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hostdir: Path,
    fleet: str,
) -> None:
    ec2, ssm = aws("ec2"), aws("ssm")
    ids = launch_runners(ec2, fleet, 2)
    report = make_registrar(fleet, labels=("gpu",)).run_once()
    assert report.ok, report.as_dict()
    assert sorted(o.action.instance_id for o in report.outcomes) == sorted(ids)

    hosts = simulate_hosts(
        ec2=ec2,
        ssm=ssm,
        name=fleet,
        workdir=hostdir,
        github_base_url=emulator.url,
        owner=OWNER,
        repo=REPO,
        timeout=30,
    )
    try:
        assert [h.instance_id for h in hosts] == ids
        assert all(h.online for h in hosts), [(h.states, h.error) for h in hosts]
        runners = emulator.runners(OWNER, REPO)
        assert sorted((r.name, r.status) for r in runners) == [
            (f"{fleet}-runner-01", "online"),
            (f"{fleet}-runner-02", "online"),
        ]
        assert all({"self-hosted", "linux", "x64", "gpu"} <= set(r.labels) for r in runners)
        # the one-shot parameters were consumed and deleted
        left = ssm.describe_parameters()["Parameters"]
        assert [p["Name"] for p in left if p["Name"].startswith(f"/{fleet}/runners/")] == []
    finally:
        for h in hosts:
            h.stop()
    assert [h.final for h in hosts] == [State.DRAINING, State.DRAINING]
    for h in hosts:  # the stand-in runner processes ended with their hosts
        pid = int((h.host_dir / "runner.pid").read_text())
        assert not Path(f"/proc/{pid}").exists() or "zombie" in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"
