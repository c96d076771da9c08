"""The local job runner used by test_workflows_sandbox.py: GitHub's expression semantics it
relies on, outputs between steps, `if:` and failure handling, and refusal of what it does not
understand."""

from __future__ import annotations

from pathlib import Path

import pytest
import wfrun


def test_expressions_follow_githubs_rules() -> None:
    ev = wfrun.Evaluator({"vars": {}, "github": {"event_name": "push"}, "steps": {}})
    assert ev("vars.AWS_REGION || 'us-east-1'") == "us-east-1"
    assert ev("github.event_name == 'push' && 'yes' || 'no'") == "yes"
    assert ev("github.event_name == 'pull_request'") is False
    assert ev("!(github.event_name != 'push')") is True
    assert ev("steps.plan.outputs.changes == 'true'") is False  # missing is ''
    assert ev("'it''s'") == "it's"
    with pytest.raises(wfrun.ExpressionError):
        ev("fromJSON('[]')")
    with pytest.raises(wfrun.ExpressionError):
        ev("github.event_name ==")


def test_conditions_imply_success_unless_a_status_function_is_named() -> None:
    ev = wfrun.Evaluator({"github": {"event_name": "push"}}, status="failure")
    assert not wfrun.condition(None, ev)
    assert not wfrun.condition("github.event_name == 'push'", ev)
    assert wfrun.condition("${{ always() && github.event_name == 'push' }}", ev)


def test_a_job_passes_outputs_stops_on_failure_and_refuses_unknown_actions(
    tmp_path: Path,
) -> None:
    wf = tmp_path / "wf.yml"
    wf.write_text(
        """
on: push
env:
  GREETING: ${{ vars.GREETING || 'hello' }}
jobs:
  j:
    runs-on: ubuntu-24.04
    outputs:
      said: ${{ steps.a.outputs.said }}
    steps:
      - id: a
        run: echo "said=${GREETING} --aws" >> "$GITHUB_OUTPUT"
      - name: summary
        env:
          SAID: ${{ steps.a.outputs.said }}
        run: echo "got ${SAID}" >> "$GITHUB_STEP_SUMMARY"
      - name: fails
        run: "false"
      - name: after failure
        run: echo never
      - name: cleanup
        if: always()
        uses: some/action@0123456789012345678901234567890123456789
"""
    )
    ws = tmp_path / "ws"
    ws.mkdir()
    res = wfrun.run_job(
        wf,
        "j",
        workspace=ws,
        github={"event_name": "push"},
        base_env={"PATH": "/usr/bin:/bin"},
        actions={},
        rewrite=lambda s: (s.replace("--aws", "--sandbox"), ["--aws -> --sandbox"]),
    )
    assert res.outputs == {"said": "hello --sandbox"}
    assert res.summary == "got hello --sandbox\n"
    assert [s.kind for s in res.steps] == ["run", "run", "run", "skipped", "uses"]
    assert res.step("fails").returncode == 1 and not res.ok
    assert "no local stand-in for some/action" in res.step("cleanup").output
