"""`terraform test` of infra/modules/monitoring (mock AWS provider): log group names, retention
and KMS, the CloudWatch agent configuration, alarm actions with and without an SNS topic, the
dashboard's metrics, and input validation. See infra/modules/monitoring/tests/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.terraform

MODULE = Path(__file__).resolve().parents[3] / "infra" / "modules" / "monitoring"
RUNS = 10  # run blocks in tests/monitoring.tftest.hcl


def test_monitoring_module_terraform_tests(tmp_path: Path, tf_cli_config: Path) -> None:
    copy = tmp_path / "monitoring"
    shutil.copytree(MODULE, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(tf_cli_config), TF_IN_AUTOMATION="1", TF_INPUT="0")
    init = subprocess.run(
        ["terraform", "init", "-backend=false", "-input=false", "-no-color"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    result = subprocess.run(
        ["terraform", "test", "-no-color"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{RUNS} passed, 0 failed" in result.stdout, result.stdout


def _planned(plan: dict[str, Any], address_prefix: str) -> list[dict[str, Any]]:
    return [
        rc
        for rc in plan["resource_changes"]
        if rc["address"].startswith(address_prefix) and "create" in rc["change"]["actions"]
    ]


@pytest.mark.emulator
def test_stack_wires_monitoring_to_runners_and_nat(stack_plan_json: Any) -> None:
    """The root stack's monitoring covers each static instance / each pool's group and NAT."""
    static, scaled = stack_plan_json("static"), stack_plan_json("autoscaled")
    alarms = "module.monitoring.aws_cloudwatch_metric_alarm."
    # static: 2 runners, 1 NAT gateway, no SNS topic.
    assert len(_planned(static, alarms + "cpu_high_instance")) == 2
    assert len(_planned(static, alarms + "status_check_instance")) == 2
    assert _planned(static, alarms + "cpu_high_asg") == []
    assert len(_planned(static, alarms + "nat_packets_dropped")) == 1
    for rc in _planned(static, alarms):
        assert not rc["change"]["after"]["alarm_actions"], rc["address"]  # null or []
    # autoscaled: 2 pools, NAT per AZ in 2 zones, alarms notify the topic.
    groups = [
        rc["change"]["after"]["dimensions"]["AutoScalingGroupName"]
        for rc in _planned(scaled, alarms + "cpu_high_asg")
    ]
    assert sorted(groups) == ["rfscan-default", "rfscan-warm"], groups
    assert _planned(scaled, alarms + "cpu_high_instance") == []
    assert len(_planned(scaled, alarms + "nat_port_allocation")) == 2
    topic = "arn:aws:sns:us-east-1:123456789012:rfscan-alerts"
    for rc in _planned(scaled, alarms):
        assert rc["change"]["after"]["alarm_actions"] == [topic], rc["address"]
    (param,) = _planned(scaled, "module.monitoring.aws_ssm_parameter.agent_config")
    assert param["change"]["after"]["name"] == "/rfscan/cloudwatch-agent/config"
