"""bootstrap(): creates the backend to standard, is idempotent, and never adopts silently."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from runnerfleet.backend import BackendError, bootstrap

BUCKET = "fleet-tfstate-123456789012"
TABLE = "fleet-tflock"


def _run(s3: Any, ddb: Any, **kw: Any) -> list[Any]:
    args: dict[str, Any] = {"bucket": BUCKET, "table": TABLE, "region": "us-east-1"}
    args.update(kw)
    return bootstrap(s3, ddb, **args)


def test_creates_bucket_and_table_to_standard(s3: Any, ddb: Any) -> None:
    changes = _run(s3, ddb)
    resources = {c.resource for c in changes}
    assert resources == {f"s3://{BUCKET}", f"dynamodb table {TABLE}"}
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    enc = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert pab == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    own = s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert own == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    (stmt,) = policy["Statement"]
    assert stmt["Effect"] == "Deny"
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(stmt["Resource"]) == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}

    table = ddb.describe_table(TableName=TABLE)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "LockID", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is True
    pitr = ddb.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_second_run_changes_nothing_and_writes_nothing(s3: Any, ddb: Any) -> None:
    assert _run(s3, ddb, tags={"runnerfleet:fleet": "fleet"})
    writes: list[str] = []

    def record(event_name: str, **_: Any) -> None:
        op = event_name.rsplit(".", 1)[-1]
        if not op.startswith(("Get", "Head", "Describe", "List")):
            writes.append(op)

    s3.meta.events.register("before-call.s3", record)
    ddb.meta.events.register("before-call.dynamodb", record)
    assert _run(s3, ddb, tags={"runnerfleet:fleet": "fleet"}) == []
    assert writes == []


def test_sse_kms_with_bucket_key(s3: Any, ddb: Any) -> None:
    key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    _run(s3, ddb, kms_key_id=key_id)
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_id,
    }
    assert rule["BucketKeyEnabled"] is True
    assert _run(s3, ddb, kms_key_id=key_id) == []


def test_switching_from_sse_s3_to_kms_is_a_change(s3: Any, ddb: Any) -> None:
    _run(s3, ddb)
    changes = _run(s3, ddb, kms_key_id="alias/state")
    assert [c.action for c in changes] == ["default encryption set"]
    assert "AES256" in changes[0].detail


def test_region_other_than_us_east_1_gets_location_constraint(aws: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-2")
    ddb = boto3.client("dynamodb", region_name="eu-west-2")
    assert _run(s3, ddb, region="eu-west-2")
    loc = s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"]
    assert loc == "eu-west-2"
    assert _run(s3, ddb, region="eu-west-2") == []


def test_us_east_1_bucket_has_no_location_constraint(s3: Any, ddb: Any) -> None:
    calls: list[dict[str, Any]] = []
    s3.meta.events.register(
        "provide-client-params.s3.CreateBucket", lambda params, **_: calls.append(dict(params))
    )
    _run(s3, ddb)
    assert calls and "CreateBucketConfiguration" not in calls[0]
    assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] in (None, "")


def test_unversioned_existing_bucket_is_refused_without_adopt(s3: Any, ddb: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    with pytest.raises(BackendError) as err:
        _run(s3, ddb)
    msg = str(err.value)
    assert BUCKET in msg and "versioning" in msg and "--adopt" in msg
    # Nothing was changed on the bucket, and no table was made.
    assert s3.get_bucket_versioning(Bucket=BUCKET).get("Status") is None
    assert ddb.list_tables()["TableNames"] == []


def test_suspended_versioning_is_refused_without_adopt(s3: Any, ddb: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(BackendError, match="Suspended"):
        _run(s3, ddb)


def test_adopt_brings_an_existing_bucket_up_to_standard(s3: Any, ddb: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    other = {
        "Sid": "KeepMe",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    s3.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]})
    )
    changes = _run(s3, ddb, adopt=True)
    actions = {c.action for c in changes if c.resource.startswith("s3://")}
    assert "versioning enabled" in actions and "created" not in actions
    assert "policy statement added" in actions
    sids = [
        s.get("Sid") for s in json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    ]
    assert sids == ["KeepMe", "DenyInsecureTransport"]  # existing statements are kept
    assert _run(s3, ddb) == []  # now versioned: no --adopt needed any more


def test_existing_versioned_bucket_missing_settings_is_completed(s3: Any, ddb: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False,
        },
    )
    changes = _run(s3, ddb)
    pab = next(c for c in changes if c.action == "public access blocked")
    assert pab.detail == "turned on: IgnorePublicAcls, RestrictPublicBuckets"


def _stubbed_403(expected_owner: str | None) -> tuple[Any, Stubber]:
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(s3)
    params = {"Bucket": BUCKET}
    if expected_owner:
        params["ExpectedBucketOwner"] = expected_owner
    stub.add_client_error(
        "head_bucket", service_error_code="403", http_status_code=403, expected_params=params
    )
    return s3, stub


def test_bucket_owned_elsewhere_is_refused() -> None:
    s3, stub = _stubbed_403(None)
    with stub, pytest.raises(BackendError) as err:
        bootstrap(s3, None, bucket=BUCKET, table=None, region="us-east-1")
    assert "another AWS account" in str(err.value) and "backend.bucket" in str(err.value)
    stub.assert_no_pending_responses()


def test_expected_owner_mismatch_is_refused() -> None:
    """S3 answers 403 to HeadBucket when ExpectedBucketOwner is not the bucket's owner."""
    s3, stub = _stubbed_403("123456789012")
    with stub, pytest.raises(BackendError, match="123456789012"):
        bootstrap(
            s3, None, bucket=BUCKET, table=None, region="us-east-1", expected_owner="123456789012"
        )
    stub.assert_no_pending_responses()


def test_bucket_name_taken_globally_is_refused() -> None:
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(s3)
    stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
    stub.add_client_error("create_bucket", service_error_code="BucketAlreadyExists")
    with stub, pytest.raises(BackendError, match="taken by another AWS account"):
        bootstrap(s3, None, bucket=BUCKET, table=None, region="us-east-1")


def test_table_with_wrong_key_schema_is_refused(s3: Any, ddb: Any) -> None:
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(BackendError, match="LockID"):
        _run(s3, ddb)


def test_existing_provisioned_table_is_brought_up_to_standard(s3: Any, ddb: Any) -> None:
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    changes = [c for c in _run(s3, ddb) if c.resource.startswith("dynamodb")]
    assert [c.action for c in changes] == [
        "billing set to on-demand",
        "deletion protection enabled",
        "point-in-time recovery enabled",
    ]
    table = ddb.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is True
    assert _run(s3, ddb) == []


def test_locking_without_table_skips_dynamodb(s3: Any, ddb: Any) -> None:
    changes = bootstrap(s3, ddb, bucket=BUCKET, table=None, region="us-east-1")
    assert all(c.resource.startswith("s3://") for c in changes)
    assert ddb.list_tables()["TableNames"] == []


def test_tags_are_merged_not_replaced(s3: Any, ddb: Any) -> None:
    _run(s3, ddb)
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "team", "Value": "ci"}]})
    changes = _run(s3, ddb, tags={"runnerfleet:fleet": "fleet"})
    assert {c.action for c in changes} == {"tags set"}
    tagset = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tagset == {"team": "ci", "runnerfleet:fleet": "fleet"}
    arn = ddb.describe_table(TableName=TABLE)["Table"]["TableArn"]
    tags = ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]
    assert {"Key": "runnerfleet:fleet", "Value": "fleet"} in tags


def test_change_renders_as_one_line(s3: Any, ddb: Any) -> None:
    changes = _run(s3, ddb)
    assert str(changes[0]) == f"s3://{BUCKET}: created (in us-east-1)"
    assert changes[0].as_dict() == {
        "resource": f"s3://{BUCKET}",
        "action": "created",
        "detail": "in us-east-1",
    }


def test_tls_policy_skipped_for_plain_http_endpoint() -> None:
    """The sandbox's emulator is http://127.0.0.1:<port>: a TLS-only policy would lock it out."""
    from runnerfleet.backend.bootstrap import plain_http_endpoint

    def client(url: str | None) -> Any:
        return boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )

    assert plain_http_endpoint(client("http://127.0.0.1:5000"))
    assert not plain_http_endpoint(client(None))
    assert not plain_http_endpoint(client("https://s3.example.internal"))


def test_enforce_tls_false_writes_no_policy(s3: Any, ddb: Any) -> None:
    changes = _run(s3, ddb, enforce_tls=False)
    assert "policy statement added" not in {c.action for c in changes}
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=BUCKET)
    assert _run(s3, ddb, enforce_tls=False) == []


def test_pitr_retried_while_a_new_table_settles() -> None:
    """AWS refuses PITR for a moment after CreateTable; moto does not, so this is stubbed."""
    from runnerfleet.backend import ensure_table

    ddb = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    table = {
        "TableName": TABLE,
        "TableStatus": "ACTIVE",
        "TableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}",
        "KeySchema": [{"AttributeName": "LockID", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "LockID", "AttributeType": "S"}],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "DeletionProtectionEnabled": True,
    }
    stub = Stubber(ddb)
    stub.add_response("describe_table", {"Table": table}, {"TableName": TABLE})
    stub.add_response(
        "describe_continuous_backups",
        {
            "ContinuousBackupsDescription": {
                "ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
            }
        },
    )
    stub.add_client_error(
        "update_continuous_backups", service_error_code="ContinuousBackupsUnavailableException"
    )
    stub.add_response("update_continuous_backups", {})
    slept: list[float] = []
    with stub:
        changes = ensure_table(ddb, table=TABLE, sleep=slept.append)
    stub.assert_no_pending_responses()
    assert [c.action for c in changes] == ["point-in-time recovery enabled"]
    assert slept == [2.0]


def test_other_table_errors_are_not_retried() -> None:
    from runnerfleet.backend import ensure_table

    ddb = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(ddb)
    stub.add_client_error("describe_table", service_error_code="AccessDeniedException")
    with stub, pytest.raises(BackendError, match="AccessDeniedException"):
        ensure_table(ddb, table=TABLE, sleep=lambda _: None)


def test_existing_bucket_in_another_region_is_refused(aws: None) -> None:
    boto3.client("s3", region_name="eu-west-2").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    s3 = boto3.client("s3", region_name="us-east-1")
    with pytest.raises(BackendError, match=r"is in region eu-west-2, but aws\.region is us-east-1"):
        bootstrap(s3, None, bucket=BUCKET, table=None, region="us-east-1")
