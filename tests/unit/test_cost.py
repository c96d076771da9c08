"""`runnerfleet cost` and runnerfleet.cost: the monthly floor against a hand computation from
the price table, the NAT options, interface endpoints, break-even, and bad input.

The hand computations read data/prices.json directly (not through runnerfleet.cost), so a
wrong formula in cost.py cannot agree with itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runnerfleet import config, cost
from runnerfleet.cli import app

PRICES: dict[str, Any] = json.loads(
    (Path(cost.__file__).parent / "data" / "prices.json").read_text(encoding="utf-8")
)
HOURS = 730


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, toml: str = "") -> Any:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("RUNNERFLEET_"):
            monkeypatch.delenv(key)
    if toml:
        (tmp_path / "runnerfleet.toml").write_text(toml, encoding="utf-8")
    return CliRunner().invoke(app, ["cost", *args])


def test_price_table_names_its_source_and_date() -> None:
    assert PRICES["as_of"] == "2026-12-01"
    assert any("aws.amazon.com/ec2/pricing" in s for s in PRICES["sources"])
    assert any("docs.github.com" in s for s in PRICES["sources"])
    assert {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-1",
    } <= (set(PRICES["regions"]))


def test_default_config_floor_matches_a_hand_computation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default: 1 x t3.medium, 50 GB gp3, one NAT gateway, alarms; detailed monitoring off."""
    result = _run(tmp_path, monkeypatch, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    p = PRICES["regions"]["us-east-1"]
    t3_medium = p["ec2_large_hour"]["t3"] / 2  # medium is half of large
    assert t3_medium == pytest.approx(0.0416)
    by_hand = {
        "instances": t3_medium * HOURS,  # 30.37
        "volumes": 50 * p["ebs_gb_month"]["gp3"],  # 4.00
        "nat": p["nat_gateway_hour"] * HOURS,  # 32.85
        "public_ipv4": p["public_ipv4_hour"] * HOURS,  # 3.65 (the NAT's Elastic IP)
        # CloudWatch agent: 10 measurements x (host + InstanceId aggregate) + 10 fleet-wide
        # aggregates, plus the control plane's QueuedJobs metric.
        "metrics": (10 * 2 + 10 + 1) * p["custom_metric_month"],  # 9.30
        # CPU + status check of the instance, 2 NAT gateway alarms, the queue alarm.
        "alarms": 5 * p["standard_alarm_month"],  # 0.50
        "lambda": 8760 * (p["lambda_request_million"] / 1e6 + 0.25 * p["lambda_gb_second"]),
    }
    total = sum(by_hand.values())
    assert total == pytest.approx(80.7, abs=0.1)
    assert out["floor_total"] == pytest.approx(total, rel=0.02)
    for resource in ("instances", "volumes", "nat", "public_ipv4", "metrics", "alarms"):
        assert out["floor_by_resource"][resource] == pytest.approx(by_hand[resource], rel=1e-6)
    assert out["floor_by_resource"]["endpoints"] == 0
    assert set(out["floor_by_resource"]) >= {
        "instances", "volumes", "nat", "public_ipv4", "endpoints", "lambda", "logs", "metrics",
        "alarms",
    }  # fmt: skip


def test_the_issues_73_50_is_the_default_with_detailed_monitoring_before_agent_metrics() -> None:
    """Issue 12's ~$73.50: instance, volume, NAT, IPv4, detailed monitoring, alarms."""
    shape = dataclasses.replace(
        cost.shape_from_config(config.validate({})), detailed_monitoring=True
    )
    est = cost.estimate(shape)
    lines = {ln.resource: ln.monthly for ln in est.lines}
    agent_metrics = 31 * 0.30
    issue_parts = (
        lines["instances"] + lines["volumes"] + lines["nat"] + lines["public_ipv4"]
        + (lines["metrics"] - agent_metrics) + lines["alarms"]
    )  # fmt: skip
    assert issue_parts == pytest.approx(73.50, rel=0.02)
    assert lines["metrics"] - agent_metrics == pytest.approx(7 * 0.30)  # $2.10 per instance


def test_detailed_monitoring_from_the_toml_is_priced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[monitoring] detailed_monitoring = true` adds AWS's 7 metrics per always-on instance."""
    off = json.loads(_run(tmp_path, monkeypatch, "--json").output)
    toml = "[runners]\ncount = 2\n[monitoring]\ndetailed_monitoring = true\n"
    on_two = json.loads(_run(tmp_path, monkeypatch, "--json", toml=toml).output)
    (tmp_path / "runnerfleet.toml").write_text(toml.replace("true", "false"), encoding="utf-8")
    off_two = json.loads(_run(tmp_path, monkeypatch, "--json").output)
    p = PRICES["regions"]["us-east-1"]
    per_instance = p["detailed_monitoring_metrics_per_instance"] * p["custom_metric_month"]
    assert per_instance == pytest.approx(2.10)
    extra = on_two["floor_by_resource"]["metrics"] - off_two["floor_by_resource"]["metrics"]
    assert extra == pytest.approx(2 * per_instance)
    assert on_two["floor_total"] - off_two["floor_total"] == pytest.approx(2 * per_instance)
    assert off["floor_by_resource"]["metrics"] == pytest.approx(31 * p["custom_metric_month"])


def test_cost_per_job_minute_and_break_even(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = json.loads(_run(tmp_path, monkeypatch, "--json", "--utilisation", "0.5").output)
    capacity = 1 * HOURS * 60
    assert out["job_minutes"] == pytest.approx(capacity * 0.5)
    assert out["per_job_minute"] == pytest.approx(out["floor_total"] / (capacity * 0.5))
    assert out["github_rate"] == 0.006  # t3.medium has 2 vCPUs: GitHub's Linux 2-core
    # static fleet: fixed cost, so break-even is floor / GitHub's rate
    assert out["break_even_job_minutes"] == pytest.approx(out["floor_total"] / 0.006, abs=1)


def test_autoscaled_pool_with_no_minimum_has_no_instance_floor() -> None:
    cfg = config.validate(
        {"runners": {"mode": "autoscaled", "pools": [{"name": "ci", "min_size": 0, "max_size": 4}]}}
    )
    est = cost.estimate(cost.shape_from_config(cfg), utilisation=0.5, job_minutes=6000)
    lines = {ln.resource: ln.monthly for ln in est.lines}
    assert lines["instances"] == 0 and lines["volumes"] == 0
    per_busy_minute = (0.0416 + 50 * 0.08 / HOURS) / 60 / 0.5
    assert est.monthly_total == pytest.approx(est.floor_total + 6000 * per_busy_minute, rel=1e-6)
    fixed = est.floor_total
    assert est.break_even_job_minutes == pytest.approx(fixed / (0.006 - per_busy_minute), abs=1)


def test_nat_instance_is_the_cheaper_floor() -> None:
    base = cost.shape_from_config(config.validate({"network": {"nat": "instance"}}))
    assert base.nat == "instance"
    base = dataclasses.replace(base, nat="single")
    gw = cost.estimate(base)
    inst = cost.estimate(dataclasses.replace(base, nat="instance"))
    p = PRICES["regions"]["us-east-1"]
    nat_instance = p["ec2_large_hour"]["t4g"] / 16 * HOURS + 8 * p["ebs_gb_month"]["gp3"]
    lines = {ln.resource: ln.monthly for ln in inst.lines}
    assert lines["nat"] == pytest.approx(nat_instance)  # t4g.nano 3.07 + 8 GB 0.64
    # the EIP on the NAT interface and the instance's own public address (first interface)
    assert lines["public_ipv4"] == pytest.approx(2 * 3.65)
    # the two NAT-gateway alarms go; nothing is charged per GB by a NAT instance
    assert gw.floor_total - inst.floor_total == pytest.approx(32.85 - nat_instance - 3.65 + 0.20)
    assert inst.data_per_gb["nat_processing"] == 0


def test_per_az_nat_and_interface_endpoints_scale_with_zones() -> None:
    cfg = config.validate(
        {
            "network": {
                "availability_zones": ["us-east-1a", "us-east-1b"],
                "public_subnet_cidrs": ["10.0.1.0/24", "10.0.3.0/24"],
                "private_subnet_cidrs": ["10.0.2.0/24", "10.0.4.0/24"],
                "nat": "per_az",
                "interface_endpoints": True,
            }
        }
    )
    est = cost.estimate(cost.shape_from_config(cfg))
    lines = {ln.resource: ln.monthly for ln in est.lines}
    assert lines["nat"] == pytest.approx(2 * 0.045 * HOURS)
    assert lines["public_ipv4"] == pytest.approx(2 * 0.005 * HOURS)
    assert lines["endpoints"] == pytest.approx(7 * 2 * 0.01 * HOURS)  # $102.20
    # they save 0.045 - 0.01 per GB that would have gone through the NAT gateway
    assert est.endpoints["pays_off_above_gb_per_month"] == pytest.approx(102.2 / 0.035, abs=0.1)


def test_endpoints_never_pay_off_behind_a_nat_instance() -> None:
    base = cost.shape_from_config(config.validate({}))
    est = cost.estimate(dataclasses.replace(base, nat="instance", interface_endpoints=True))
    assert est.endpoints["pays_off_above_gb_per_month"] is None


def test_known_instance_types_and_prices_by_region() -> None:
    us = cost.known_instance_types("us-east-1")
    assert {"t3.medium", "t3a.large", "t4g.nano", "m5.large", "m6i.xlarge", "m7g.medium"} <= us
    assert {"m6a.2xlarge", "m7i.large", "c5.9xlarge", "c6i.large", "c7g.large"} <= us
    assert "t3.huge" not in us and "c5.8xlarge" not in us
    assert cost.instance_hourly("us-east-1", "t3.large") == pytest.approx(0.0832)
    assert cost.instance_hourly("us-east-1", "c6i.2xlarge") == pytest.approx(0.34)
    assert cost.instance_hourly("eu-central-1", "t3.medium") == pytest.approx(0.048)
    assert cost.instance_architecture("t4g.nano") == "arm64"
    assert cost.instance_architecture("m7i.large") == "x86_64"
    assert cost.instance_vcpus("t3.nano") == 2 and cost.instance_vcpus("m7g.medium") == 1
    with pytest.raises(cost.UnknownRegion, match="no prices for region 'mars-east-1'"):
        cost.known_instance_types("mars-east-1")
    with pytest.raises(cost.UnknownInstanceType):
        cost.instance_hourly("us-east-1", "x9.large")


def test_bad_input_exits_2_and_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(tmp_path, monkeypatch, "--utilisation", "0")
    assert result.exit_code == 2 and "--utilisation must be above 0" in result.output
    result = _run(tmp_path, monkeypatch, "--job-minutes", "-5")
    assert result.exit_code == 2 and "--job-minutes must not be negative" in result.output
    toml = '[aws]\nregion = "sa-east-1"\n[network]\navailability_zones = ["sa-east-1a"]\n'
    result = _run(tmp_path, monkeypatch, toml=toml)
    assert result.exit_code == 2 and "no prices for region 'sa-east-1'" in result.output


def test_human_output_shows_the_table_and_the_comparisons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "Monthly floor of fleet 'runnerfleet'" in result.output
    assert "Break-even" in result.output and "Interface endpoints" in result.output
