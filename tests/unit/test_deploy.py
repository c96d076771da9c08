"""Deployment pieces that need no terraform: runner deregistration on AWS, plan digests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runnerfleet.config import FleetConfig, GithubConfig
from runnerfleet.deploy import Deployment
from runnerfleet.github.client import GitHubClient, TokenAuth
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.target import Target
from runnerfleet.terraform import PlanResult


@pytest.fixture
def emulator() -> Iterator[GitHubEmulator]:
    emu = GitHubEmulator()
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def test_down_on_aws_deregisters_only_this_fleets_runners(
    emulator: GitHubEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(GithubConfig, "api_url", property(lambda self: emulator.url))
    emulator.add_installation("example-org")
    gh = GitHubClient(emulator.url, TokenAuth(emulator.pat))
    for name in ("alpha-runner-01", "alpha-runner-02", "beta-runner-01"):
        gh.generate_jit_config("example-org", None, name=name, labels=["self-hosted"])
    lines: list[str] = []
    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/alpha/github/token", Value=emulator.pat, Type="SecureString"
        )
        cfg = FleetConfig(name="alpha")
        dep = Deployment(cfg, Target(cfg, tmp_path), lines.append)
        assert dep.deregister_runners() == 2
    left = sorted(r.name for r in gh.list_runners("example-org"))
    assert left == ["beta-runner-01"]
    assert "removed 2 runner(s) from GitHub" in lines
    assert emulator.pat not in "\n".join(lines)


def test_down_on_aws_without_credentials_reports_and_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    lines: list[str] = []
    with mock_aws():
        cfg = FleetConfig(name="alpha")
        assert Deployment(cfg, Target(cfg, tmp_path), lines.append).deregister_runners() == 0
    assert any("not deregistered" in line for line in lines)


def _plan(changes: list[dict[str, Any]]) -> PlanResult:
    return PlanResult(Path("x.tfplan"), True, {"resource_changes": changes})


def _rc(address: str, actions: list[str], after: dict[str, Any]) -> dict[str, Any]:
    return {"address": address, "change": {"actions": actions, "before": None, "after": after}}


def test_plan_digest_ignores_order_and_no_ops_but_sees_values() -> None:
    a = _rc("aws_vpc.this", ["create"], {"cidr_block": "10.0.0.0/16"})
    b = _rc("aws_subnet.public", ["create"], {"cidr_block": "10.0.1.0/24"})
    noop = _rc("aws_iam_role.x", ["no-op"], {})
    assert _plan([a, b]).digest() == _plan([b, noop, a]).digest()
    changed = _rc("aws_vpc.this", ["create"], {"cidr_block": "10.1.0.0/16"})
    assert _plan([changed, b]).digest() != _plan([a, b]).digest()
    assert len(_plan([]).digest()) == 64
