"""runnerfleet.strictaws.motocosts changes only what moto costs, never what it answers: the same
transitions give the same outcomes and the same table, the same DescribeInstances the same
instances and tags, with and without the patches."""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws

from runnerfleet.controlplane.job_table import DynamoJobTable, JobUpdate, create_table
from runnerfleet.strictaws.motocosts import item_level_transactions, per_resource_tags

NOW = 1_800_000_000.0


def _client(service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def _transitions(patched: bool) -> tuple[list[str], list[dict[str, Any]]]:
    with mock_aws():
        ddb = _client("dynamodb")
        create_table(ddb, "t")
        table = DynamoJobTable(ddb, "t")
        steps = [
            (JobUpdate(1, "queued", ("self-hosted",)), "d1"),
            (JobUpdate(1, "queued", ("self-hosted",)), "d1"),  # redelivery: cancelled
            (JobUpdate(2, "queued", ("self-hosted",)), "d2"),
            (JobUpdate(1, "in_progress", ("self-hosted",), runner_name="r"), "d3"),
            (JobUpdate(1, "queued", ("self-hosted",)), "d4"),  # late: unchanged
            (JobUpdate(1, "completed", ("self-hosted",), completed_at=NOW), "d5"),
            (JobUpdate(2, "completed", ("self-hosted",), completed_at=NOW), "d5"),  # dup id
        ]
        outcomes: list[str] = []
        if patched:
            with item_level_transactions():
                for update, delivery in steps:
                    outcomes.append(table.transition(update, "p", delivery, NOW).outcome)
        else:
            for update, delivery in steps:
                outcomes.append(table.transition(update, "p", delivery, NOW).outcome)
        items = sorted(ddb.scan(TableName="t")["Items"], key=lambda i: i["pk"]["S"])
        return outcomes, items


def test_item_level_transactions_answer_as_moto_does() -> None:
    moto_outcomes, moto_items = _transitions(patched=False)
    outcomes, items = _transitions(patched=True)
    assert outcomes == moto_outcomes
    assert outcomes.count("duplicate") == 2
    assert items == moto_items
    pool = next(i for i in items if i["pk"]["S"] == "pool#p")
    # the cancelled transactions were rolled back: job 2 is still queued, nothing in progress
    assert (pool["queued"]["N"], pool["in_progress"]["N"]) == ("1", "0")


Described = list[tuple[str, list[tuple[str, str]]]]


def _describe() -> tuple[Described, Described]:
    """(moto's answer, the patched answer) to the same DescribeInstances."""
    with mock_aws():
        ec2 = _client("ec2")
        for pool in ("a", "b"):
            ec2.run_instances(
                ImageId="ami-12c6146b",
                MinCount=3,
                MaxCount=3,
                TagSpecifications=[
                    {
                        "ResourceType": "instance",
                        "Tags": [
                            {"Key": "runnerfleet:fleet", "Value": "f"},
                            {"Key": "runnerfleet:pool", "Value": pool},
                        ],
                    }
                ],
            )
        filters = [
            {"Name": "tag:runnerfleet:fleet", "Values": ["f"]},
            {"Name": "tag:runnerfleet:pool", "Values": ["b"]},
        ]

        def run() -> Described:
            res = ec2.describe_instances(Filters=filters)["Reservations"]
            return sorted(
                (i["InstanceId"], sorted((t["Key"], t["Value"]) for t in i.get("Tags", [])))
                for r in res
                for i in r["Instances"]
            )

        moto = run()
        with per_resource_tags():
            return moto, run()


def test_per_resource_tags_answer_as_moto_does() -> None:
    moto, got = _describe()
    assert len(got) == 3
    assert got == moto
