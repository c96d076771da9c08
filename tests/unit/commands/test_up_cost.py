"""`runnerfleet up --aws` shows the monthly floor beside the plan summary before it asks.

The AWS account is stubbed: a Deployment stand-in whose target is not the sandbox and whose
`up` hands a plan (two creates) to the CLI's confirmation, as the real one does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import runnerfleet.commands.lifecycle as lifecycle
from runnerfleet import cost
from runnerfleet.cli import app
from runnerfleet.deploy import UpResult
from runnerfleet.terraform import PlanResult

PLAN = PlanResult(
    Path("up.tfplan"),
    has_changes=True,
    json={"resource_changes": [
        {"address": "aws_vpc.this", "change": {"actions": ["create"]}},
        {"address": "aws_instance.r", "change": {"actions": ["create"]}},
    ]},
)  # fmt: skip


class StubTarget:
    is_sandbox = False
    sandbox = None
    label = "AWS us-east-1 (stubbed account)"


class StubDeployment:
    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.target = StubTarget()
        self.applied = False

    def up(self, confirm: Any, *, adopt: bool = False) -> UpResult:
        result = UpResult(changed=True, summary=PLAN.summary(), outputs={})
        if confirm(PLAN):
            self.applied = result.applied = True
        return result


@pytest.fixture
def stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[StubDeployment]:
    made: list[StubDeployment] = []

    def deployment_for(cfg: Any, *_a: Any, **_k: Any) -> StubDeployment:
        made.append(StubDeployment(cfg))
        return made[-1]

    monkeypatch.setattr(lifecycle, "deployment_for", deployment_for)
    for key in list(os.environ):
        if key.startswith("RUNNERFLEET_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runnerfleet.toml").write_text('name = "costly"\n[runners]\ncount = 3\n')
    return made


def test_the_floor_is_shown_with_the_plan_before_the_question(
    stub: list[StubDeployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "can_ask", lambda: True)
    result = CliRunner().invoke(app, ["up", "--aws"], input="n\n")
    out = result.output
    expected = cost.render_floor_line(cost.monthly_floor(stub[0].cfg))
    assert "plan: 2 to add" in out and expected in out, out
    assert out.index("plan: 2 to add") < out.index("monthly floor") < out.index("Apply these")
    assert "$" in expected and not stub[0].applied


def test_the_floor_is_shown_with_yes_too(stub: list[StubDeployment]) -> None:
    result = CliRunner().invoke(app, ["up", "--aws", "--yes"])
    assert result.exit_code == 0, result.output
    assert "monthly floor ~$" in result.output and stub[0].applied


def test_an_unpriced_region_says_so_and_does_not_fail(
    stub: list[StubDeployment], tmp_path: Path
) -> None:
    (tmp_path / "runnerfleet.toml").write_text(
        'name = "costly"\n[aws]\nregion = "sa-east-1"\n'
        '[network]\navailability_zones = ["sa-east-1a"]\n'
    )
    result = CliRunner().invoke(app, ["up", "--aws", "--yes"])
    assert result.exit_code == 0, result.output
    assert "monthly floor: not estimated" in result.output
