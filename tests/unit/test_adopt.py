"""Resources in AWS but not in the state are found by name or by the fleet's tags (moto)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from runnerfleet.adopt import (
    Orphan,
    failed_because_it_exists,
    find_orphans,
    import_blocks,
    manual_imports,
)


def create(address: str, rtype: str, after: dict[str, Any]) -> dict[str, Any]:
    return {"address": address, "mode": "managed", "type": rtype,
            "change": {"actions": ["create"], "after": after}}  # fmt: skip


@pytest.fixture
def clients() -> Any:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        yield lambda service: session.client(service)


def test_existing_resources_are_found_and_missing_ones_are_not(clients: Any) -> None:
    clients("iam").create_role(RoleName="fl-webhook", AssumeRolePolicyDocument="{}")
    clients("ssm").put_parameter(Name="/fl/config", Value="x", Type="String")
    vpc = clients("ec2").create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [
            {"Key": "runnerfleet:fleet", "Value": "fl"}, {"Key": "Name", "Value": "fl-vpc"}]}],
    )["Vpc"]["VpcId"]  # fmt: skip
    clients("logs").create_log_group(logGroupName="/fl/runners")
    tags = {"runnerfleet:fleet": "fl", "Name": "fl-vpc"}
    plan = {
        "resource_changes": [
            create('module.cp[0].aws_iam_role.fn["webhook"]', "aws_iam_role",
                   {"name": "fl-webhook"}),
            create("module.cp[0].aws_iam_role.other", "aws_iam_role", {"name": "fl-other"}),
            create("module.cp[0].aws_ssm_parameter.config", "aws_ssm_parameter",
                   {"name": "/fl/config"}),
            create("module.cp[0].aws_ssm_parameter.new", "aws_ssm_parameter", {"name": "/fl/new"}),
            create("module.network.aws_vpc.this", "aws_vpc", {"tags": tags}),
            create("module.network.aws_subnet.a", "aws_subnet",
                   {"tags": {"runnerfleet:fleet": "fl", "Name": "fl-a"}}),
            create("module.mon.aws_cloudwatch_log_group.r", "aws_cloudwatch_log_group",
                   {"name": "/fl/runners"}),
            create("module.x.aws_route.r", "aws_route", {}),  # not identifiable: skipped
            {"address": "module.y.aws_vpc.kept", "mode": "managed", "type": "aws_vpc",
             "change": {"actions": ["no-op"], "after": {"tags": tags}}},
        ]
    }  # fmt: skip
    orphans, errors = find_orphans(plan, clients)
    assert errors == []
    assert {(o.address, o.import_id) for o in orphans} == {
        ('module.cp[0].aws_iam_role.fn["webhook"]', "fl-webhook"),
        ("module.cp[0].aws_ssm_parameter.config", "/fl/config"),
        ("module.network.aws_vpc.this", vpc),
        ("module.mon.aws_cloudwatch_log_group.r", "/fl/runners"),
    }


def test_buckets_routes_and_rules_are_found(clients: Any) -> None:
    clients("s3").create_bucket(Bucket="fl-artifacts")
    ec2 = clients("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    plan = {
        "resource_changes": [
            create("module.rf.aws_s3_bucket.a", "aws_s3_bucket", {"bucket": "fl-artifacts"}),
            create("module.rf.aws_s3_bucket.other", "aws_s3_bucket", {"bucket": "fl-nothing"}),
            create("module.n.aws_route.public", "aws_route",
                   {"route_table_id": rtb, "destination_cidr_block": "0.0.0.0/0"}),
            create("module.n.aws_route.unknown_table", "aws_route",
                   {"destination_cidr_block": "0.0.0.0/0"}),
        ]
    }  # fmt: skip
    orphans, errors = find_orphans(plan, clients)
    assert errors == []
    assert {(o.address, o.import_id) for o in orphans} == {
        ("module.rf.aws_s3_bucket.a", "fl-artifacts"),
        ("module.n.aws_route.public", f"{rtb}_0.0.0.0/0"),
    }


def test_import_blocks_and_manual_steps_are_exact() -> None:
    o = Orphan('module.cp[0].aws_iam_role.fn["webhook"]', "aws_iam_role", "fl-webhook")
    q = Orphan("module.n.aws_vpc.this", "aws_vpc", "vpc-0abc")
    text = import_blocks([o])
    assert 'to = module.cp[0].aws_iam_role.fn["webhook"]' in text
    assert 'id = "fl-webhook"' in text
    steps = manual_imports([o, q], "/w/stack", "/w/runs/1/vars.json").splitlines()
    assert steps[0] == "1. write these import blocks to /w/stack/runnerfleet_imports.tf:"
    assert "\n".join(steps[1:10]) + "\n" == import_blocks([o, q])
    # import blocks in a plan targeted at them, never `terraform import` (it evaluates the
    # whole configuration: "Invalid for_each argument" after a killed apply)
    assert steps[-2:] == [
        "   terraform -chdir=/w/stack plan -var-file=/w/runs/1/vars.json "
        "'-target=module.cp[0].aws_iam_role.fn[\"webhook\"]' -target=module.n.aws_vpc.this "
        "-out=import.tfplan",
        "   terraform -chdir=/w/stack apply import.tfplan",
    ]
    assert not any("/w/stack import" in line for line in steps)


def test_already_exists_errors_are_recognised() -> None:
    assert failed_because_it_exists("EntityAlreadyExists: Role with name x already exists.")
    assert failed_because_it_exists("ResourceAlreadyExistsException: log group")
    assert not failed_because_it_exists("AccessDenied: not allowed")
