"""Deployment pieces that need no terraform: runner deregistration and listing on AWS, plan
digests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
from runnerfleet.terraform import PlanResult, TerraformError


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


def test_status_on_aws_lists_this_fleets_github_runners(
    emulator: GitHubEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`runnerfleet status --aws`: the fleet's runners in GitHub (docs/operations.md), read with
    the control plane's credentials from SSM, other fleets' runners left out."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(GithubConfig, "api_url", property(lambda self: emulator.url))
    emulator.add_installation("example-org")
    gh = GitHubClient(emulator.url, TokenAuth(emulator.pat))
    for name in ("alpha-runner-02", "alpha-runner-01", "beta-runner-01"):
        gh.generate_jit_config("example-org", None, name=name, labels=["self-hosted"])
    lines: list[str] = []
    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/alpha/github/token", Value=emulator.pat, Type="SecureString"
        )
        cfg = FleetConfig(name="alpha")
        runners = Deployment(cfg, Target(cfg, tmp_path), lines.append).github_runners()
    assert [(r["name"], r["status"], r["busy"]) for r in runners] == [
        ("alpha-runner-01", "offline", False),
        ("alpha-runner-02", "offline", False),
    ]
    assert emulator.pat not in "\n".join(lines)


def test_status_on_aws_without_credentials_says_why_no_runners_are_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    lines: list[str] = []
    with mock_aws():
        cfg = FleetConfig(name="alpha")
        assert Deployment(cfg, Target(cfg, tmp_path), lines.append).github_runners() == []
    assert any("GitHub runners not listed" in line for line in lines)


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


class _RecordingTerraform:
    def __init__(self, calls: list[tuple[str, ...]]):
        self.calls = calls

    def apply(self, plan_file: Path) -> None:
        self.calls.append(("apply", plan_file.name))


def _down_after_killed_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, killed: bool, dependency: bool = False
) -> tuple[list[tuple[str, ...]], list[str], Deployment]:
    """`down` with a stubbed terraform against moto: the role `alpha-webhook` exists in AWS
    and the plan would create it (a killed apply made it and never wrote the state). With
    `dependency`, the plan targeted at it would also create a policy that AWS does not hold."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    calls: list[tuple[str, ...]] = []
    lines: list[str] = []
    with mock_aws():
        boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="alpha-webhook", AssumeRolePolicyDocument="{}"
        )
        cfg = FleetConfig(name="alpha")
        dep = Deployment(cfg, Target(cfg, tmp_path), lines.append)
        aws = "registry.terraform.io/hashicorp/aws"

        def plan(
            plan_file: Path | None = None, destroy: bool = False, targets: Sequence[str] = ()
        ) -> PlanResult:
            calls.append(("plan", "destroy" if destroy else "targeted" if targets else "up"))
            after = {"name": "alpha-webhook"}
            imported = bool(dep._imports)  # import blocks written for the found role
            action = "delete" if destroy else ("no-op" if imported else "create")
            changes = [
                {
                    **_rc("module.cp.aws_iam_role.webhook", [action], after),
                    "mode": "managed",
                    "type": "aws_iam_role",
                    "provider_name": aws,
                }
            ]
            if targets and dependency:
                changes.append(
                    {
                        **_rc("module.cp.aws_iam_policy.p", ["create"], {"name": "p"}),
                        "mode": "managed",
                        "type": "aws_iam_policy",
                        "provider_name": aws,
                    }
                )
            return _plan(changes)  # fmt: skip

        monkeypatch.setattr(dep, "state_exists", lambda: True)
        monkeypatch.setattr(dep, "deregister_runners", lambda: 0)
        monkeypatch.setattr(dep, "plan", plan)
        monkeypatch.setattr(dep, "terraform", lambda: _RecordingTerraform(calls))
        if killed:
            dep.apply_marker.parent.mkdir(parents=True, exist_ok=True)
            dep.apply_marker.write_text('{"run": "x", "pid": 1}\n')
        dep.down()
    return calls, lines, dep


def test_down_after_a_killed_apply_imports_what_it_made_then_destroys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, lines, dep = _down_after_killed_apply(tmp_path, monkeypatch, killed=True)
    assert calls == [
        ("plan", "up"),  # the search: the role would be created, AWS holds it
        ("plan", "up"),  # with its import block: nothing more to find
        ("plan", "targeted"),  # -target the role: imports it, creates nothing
        ("apply", "x.tfplan"),
        ("plan", "destroy"),
        ("apply", "x.tfplan"),
    ], calls
    assert any("alpha-webhook" in line and "destroyed too" in line for line in lines)
    assert not dep.apply_marker.exists(), "the next down would look for orphans again"
    assert dep._imports == [], "the destroy plan must carry no import blocks"


def test_down_refuses_an_import_that_would_create_a_resource_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TerraformError) as refused:
        _down_after_killed_apply(tmp_path, monkeypatch, killed=True, dependency=True)
    message = str(refused.value)
    assert "would first create module.cp.aws_iam_policy.p" in message
    assert "to = module.cp.aws_iam_role.webhook" in message  # the import block to write
    assert "plan -var-file=" in message and "-target=module.cp.aws_iam_role.webhook" in message


def test_down_after_a_finished_apply_only_destroys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, _, _ = _down_after_killed_apply(tmp_path, monkeypatch, killed=False)
    assert calls == [("plan", "destroy"), ("apply", "x.tfplan")]
