"""Plan of the root stack with the default config: the seed's network, read from plan JSON.

The plan runs against the AWS emulator through the same code path as `runnerfleet plan`
(backend bootstrap, S3 backend with locking, sandbox provider override).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runnerfleet.config import FleetConfig
from runnerfleet.deploy import Deployment
from runnerfleet.sandbox import Sandbox
from runnerfleet.target import Target

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]


@pytest.fixture(scope="module")
def plan_json(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("stackplan") / ".runnerfleet"
    box = Sandbox(home)
    box.start(with_github=False)
    try:
        cfg = FleetConfig(name="planseed")
        dep = Deployment(cfg, Target(cfg, home, box))
        dep.bootstrap_backend()
        plan = dep.plan()
        assert plan.has_changes
        yield plan.json
    finally:
        box.stop()


def _resources(plan: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(module: dict[str, Any]) -> None:
        found.extend(r for r in module.get("resources", []) if r["type"] == rtype)
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan["planned_values"]["root_module"])
    return found


def _config_resource(plan: dict[str, Any], address: str) -> dict[str, Any]:
    module = plan["configuration"]["root_module"]["module_calls"]["network"]["module"]
    for res in module["resources"]:
        if res["address"] == address:
            return dict(res)
    raise AssertionError(f"{address} not in the network module configuration")


def test_vpc_cidr_and_dns_flags(plan_json: dict[str, Any]) -> None:
    (vpc,) = _resources(plan_json, "aws_vpc")
    assert vpc["values"]["cidr_block"] == "10.0.0.0/16"
    assert vpc["values"]["enable_dns_hostnames"] is True
    assert vpc["values"]["enable_dns_support"] is True


def test_one_public_one_private_subnet_in_us_east_1a(plan_json: dict[str, Any]) -> None:
    subnets = {r["name"]: r["values"] for r in _resources(plan_json, "aws_subnet")}
    assert subnets["public"]["cidr_block"] == "10.0.1.0/24"
    assert subnets["private"]["cidr_block"] == "10.0.2.0/24"
    assert subnets["public"]["availability_zone"] == "us-east-1a"
    assert subnets["private"]["availability_zone"] == "us-east-1a"
    assert subnets["private"]["map_public_ip_on_launch"] is False


def test_routes_public_to_igw_private_to_nat(plan_json: dict[str, Any]) -> None:
    routes = {r["name"]: r["values"] for r in _resources(plan_json, "aws_route")}
    assert routes["public_internet"]["destination_cidr_block"] == "0.0.0.0/0"
    assert routes["private_nat"]["destination_cidr_block"] == "0.0.0.0/0"
    public = _config_resource(plan_json, "aws_route.public_internet")
    assert "aws_internet_gateway.this.id" in public["expressions"]["gateway_id"]["references"]
    private = _config_resource(plan_json, "aws_route.private_nat")
    refs = private["expressions"]["nat_gateway_id"]["references"]
    assert any(ref.startswith("aws_nat_gateway.this") for ref in refs)
    nat = _config_resource(plan_json, "aws_nat_gateway.this")
    assert any(
        r.startswith("aws_subnet.public") for r in nat["expressions"]["subnet_id"]["references"]
    )


def test_nat_has_an_eip_and_s3_gateway_endpoint_exists(plan_json: dict[str, Any]) -> None:
    assert len(_resources(plan_json, "aws_nat_gateway")) == 1
    (eip,) = _resources(plan_json, "aws_eip")
    assert eip["values"]["domain"] == "vpc"
    endpoints = [r["values"] for r in _resources(plan_json, "aws_vpc_endpoint")]
    assert [e["vpc_endpoint_type"] for e in endpoints] == ["Gateway"]
    s3 = _config_resource(plan_json, "aws_vpc_endpoint.s3")
    assert s3["expressions"]["service_name"]["references"]  # built from the region

    assert _resources(plan_json, "aws_vpc_endpoint_route_table_association")


def test_every_resource_is_tagged_with_the_fleet(plan_json: dict[str, Any]) -> None:
    untagged = []
    for rc in plan_json["resource_changes"]:
        after = rc["change"].get("after") or {}
        tags = after.get("tags_all")
        if tags is not None and tags.get("runnerfleet:fleet") != "planseed":
            untagged.append(rc["address"])
    assert untagged == []
