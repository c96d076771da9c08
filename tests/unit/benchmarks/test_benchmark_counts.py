"""The machine-independent counts of the benchmarks (issue 13): no job-table scan and at
most two AWS calls before the launch call per webhook event, whatever the table holds; a
reconcile pass with nothing changed makes no GitHub call that counts against the rate limit.
Small sizes; the speed itself is only measured by the benchmarks (they print JSON)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

import reconcile_scale
import webhook_handling


def test_webhook_work_per_event_does_not_grow_with_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    webhook_handling.main(["--sizes", "0,150", "--jobs", "4", "--window", "2", "--burst", "6"])
    doc = json.loads(capsys.readouterr().out)
    small, large = doc["results"]
    for r in (small, large):
        assert r["throughput"]["dynamodb_scans"] == 0
        assert r["throughput"]["replies"] == {"200": r["throughput"]["events"]}
        before = r["decision_latency"]["aws_calls_before_launch_call"]
        assert before and all(int(k) <= 2 for k in before)
    assert (
        large["throughput"]["aws_calls_by_operation"]
        == (small["throughput"]["aws_calls_by_operation"])
    )


def test_unchanged_reconcile_pass_costs_no_counted_github_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reconcile_scale.main(["--sizes", "150", "--passes", "3"])
    (r,) = json.loads(capsys.readouterr().out)["results"]
    assert r["instances"] == 150
    first, second = r["first_pass"], r["second_pass_nothing_changed"]
    assert first["failed_actions"] == second["failed_actions"] == 0
    assert first["github_calls_by_endpoint"]["GET /orgs/{org}/actions/runners"] == 2  # 2 pages
    assert second["github_calls"] == 0
    assert second["github_not_modified_by_endpoint"]["GET /orgs/{org}/actions/runners"] == 2
    assert second["actions"] == {}
    # hosts of online runners are not described on the first pass (runnerfleet.controlplane
    # .fleet): the static-host lookup only; the idle ones (20%) on the second, none after
    assert first["aws_calls_by_operation"]["ec2:DescribeInstances"] == 1
    assert second["aws_calls_by_operation"]["ec2:DescribeInstances"] == 1
    (third,) = r["later_passes_nothing_changed"]
    assert "ec2:DescribeInstances" not in third["aws_calls_by_operation"]
    assert third["github_calls"] == 0 and third["actions"] == {}
