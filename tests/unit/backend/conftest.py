"""Fixtures for the state-backend unit tests: in-process moto S3 and DynamoDB.

One moto mock per test module (starting one costs about a second); every test starts from an
empty account because the `aws` fixture deletes all buckets and tables after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
REGIONS = ("us-east-1", "eu-west-2")  # every region a test in this folder uses


@pytest.fixture(scope="module")
def _moto() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            yield {
                "s3": boto3.client("s3", region_name=REGION),
                "ddb": [boto3.client("dynamodb", region_name=r) for r in REGIONS],
            }


def _wipe(clients: dict[str, Any]) -> None:
    s3 = clients["s3"]
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        listing = s3.list_object_versions(Bucket=name)
        for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
        s3.delete_bucket(Bucket=name)
    for ddb in clients["ddb"]:
        for table in ddb.list_tables()["TableNames"]:
            ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
            ddb.delete_table(TableName=table)


@pytest.fixture
def aws(_moto: dict[str, Any]) -> Iterator[None]:
    yield
    _wipe(_moto)


@pytest.fixture
def s3(aws: None) -> Any:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def ddb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def _make_backend(s3: Any, ddb: Any, bucket: str, table: str) -> None:
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def make_backend(aws: None) -> Callable[[Any, Any, str, str], None]:
    """Makes just what the version and lock tests need: a versioned bucket and a LockID table
    (`bootstrap` itself is tested in test_backend_bootstrap)."""
    return _make_backend
