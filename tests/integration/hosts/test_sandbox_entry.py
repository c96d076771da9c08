"""The sandbox entry points `runnerfleet.deploy` calls after apply and before destroy:
registrar + simulated hosts bring the static fleet online in the GitHub emulator with the seed's
names, `sandbox_list_runners` shows them, `sandbox_deregister` stops and removes them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hosts_support import launch_runners

from runnerfleet.agent import simulate
from runnerfleet.config import validate
from runnerfleet.github.emulator import GitHubEmulator


@dataclass
class _Sandbox:
    info: dict[str, Any]

    def github_info(self) -> dict[str, Any]:
        return self.info

    def webhook_secret(self) -> str:
        return "sandbox-webhook-secret-for-tests"


@dataclass
class _Target:
    """What runnerfleet.target.Target offers the entry points, on the test's emulators."""

    client: Callable[[str], Any]
    home: Path
    sandbox: _Sandbox
    is_sandbox: bool = True


def test_sandbox_bring_online_list_and_deregister(
    aws: Callable[[str], Any], emulator: GitHubEmulator, fleet: str, tmp_path: Path
) -> None:
    cfg = validate(
        {"name": fleet, "github": {"owner": "acme"}, "runners": {"count": 2, "labels": ["e2e"]}}
    )
    launch_runners(aws("ec2"), fleet, 2)
    target = _Target(aws, tmp_path, _Sandbox({"url": emulator.url, "pat": emulator.pat}))
    lines: list[str] = []
    try:
        hosts = simulate.sandbox_bring_online(cfg, target, lines.append)
        assert [(h["runner_name"], h["online"]) for h in hosts] == [
            (f"{fleet}-runner-01", True),
            (f"{fleet}-runner-02", True),
        ], lines
        listed = simulate.sandbox_list_runners(cfg, target)
        assert [(r["name"], r["status"]) for r in listed] == [
            (f"{fleet}-runner-01", "online"),
            (f"{fleet}-runner-02", "online"),
        ]
        assert all({"self-hosted", "linux", "x64", "e2e"} <= set(r["labels"]) for r in listed)
        # credentials went through SSM, the way the Lambda reads them
        ssm = aws("ssm")
        stored = ssm.get_parameter(Name=f"/{fleet}/github/token", WithDecryption=True)
        assert stored["Parameter"]["Type"] == "SecureString"
        # a second `up` changes nothing: no new registration, the same two runners
        again = simulate.sandbox_bring_online(cfg, target, lines.append)
        assert len(again) == 2
        assert len(simulate.sandbox_list_runners(cfg, target)) == 2
    finally:
        removed = simulate.sandbox_deregister(cfg, target, lines.append)
    assert removed == 2
    assert simulate.sandbox_list_runners(cfg, target) == []
    assert not any(line for line in lines if emulator.pat in line)
