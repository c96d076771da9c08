"""Create the Terraform state backend, or bring an existing one up to standard, idempotently.

The standard: an S3 bucket with versioning, default encryption (SSE-S3, or SSE-KMS with a
bucket key when a KMS key is given), all four public-access-block flags, BucketOwnerEnforced
object ownership and a policy denying requests without TLS; a DynamoDB table with hash key
`LockID` (S), on-demand billing, point-in-time recovery and deletion protection.

`bootstrap` returns what it changed; on a backend that is already up to standard it returns an
empty list and makes no write call. A bucket that exists without versioning, or that this
account cannot read (owned elsewhere), is only taken over with `adopt=True`. Over a plain-HTTP
S3 endpoint (the sandbox emulator) the TLS-only policy is left out: no request could meet it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import botocore.exceptions

from runnerfleet.backend._aws import (
    aws_errors,
    backend_error,
    error_code,
    http_status,
    is_not_found,
    partition,
)
from runnerfleet.backend.model import BackendError, Change

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import OwnershipControlsTypeDef, ServerSideEncryptionRuleTypeDef

TLS_SID = "DenyInsecureTransport"
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
OWNERSHIP: Final = "BucketOwnerEnforced"
HASH_KEY = "LockID"


# ---- S3 bucket --------------------------------------------------------------------------------
def _bucket_state(s3: S3Client, bucket: str, expected_owner: str | None) -> str:
    """'missing', 'present' or 'forbidden' (exists, but this account may not use it)."""
    kwargs: dict[str, str] = {"Bucket": bucket}
    if expected_owner:
        kwargs["ExpectedBucketOwner"] = expected_owner
    try:
        s3.head_bucket(**kwargs)  # type: ignore[arg-type]
    except botocore.exceptions.ClientError as exc:
        if is_not_found(exc, "NoSuchBucket"):
            return "missing"
        if http_status(exc) == 403 or error_code(exc) in ("403", "AccessDenied", "Forbidden"):
            return "forbidden"
        if http_status(exc) == 301 or error_code(exc) in ("301", "PermanentRedirect"):
            raise BackendError(
                f"bucket {bucket!r} exists in another region than the one configured; set "
                "aws.region to the bucket's region or choose another backend.bucket"
            ) from exc
        raise backend_error(f"check bucket {bucket!r}", exc) from exc
    return "present"


def _create_bucket(s3: S3Client, bucket: str, region: str) -> bool:
    """Create the bucket; False if it turned out to exist already (and be ours)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": OWNERSHIP}
    if region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code == "BucketAlreadyOwnedByYou":
            return False
        if code == "BucketAlreadyExists":
            raise BackendError(
                f"bucket name {bucket!r} is taken by another AWS account (bucket names are "
                "global); set another name in backend.bucket"
            ) from exc
        raise backend_error(f"create bucket {bucket!r}", exc) from exc
    with aws_errors(f"wait for the new bucket {bucket!r} to be usable"):
        s3.get_waiter("bucket_exists").wait(
            Bucket=bucket, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    return True


def _check_region(s3: S3Client, bucket: str, region: str) -> None:
    """An existing bucket must live in the configured region (Terraform's backend needs it)."""
    with aws_errors(f"read the region of bucket {bucket!r}"):
        raw = str(s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1")
    where = {"EU": "eu-west-1"}.get(raw, raw)  # legacy name
    if where != region:
        raise BackendError(
            f"bucket {bucket!r} is in region {where}, but aws.region is {region}; set aws.region "
            f"to {where} or choose another backend.bucket in runnerfleet.toml"
        )


def _get_or_none(call: Callable[[], Any], *missing_codes: str) -> Any:
    try:
        return call()
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in missing_codes:
            return None
        raise


def _versioning(s3: S3Client, bucket: str) -> str:
    with aws_errors(f"read versioning of bucket {bucket!r}"):
        return str(s3.get_bucket_versioning(Bucket=bucket).get("Status") or "Disabled")


def _ensure_versioning(s3: S3Client, bucket: str, res: str, status: str) -> list[Change]:
    if status == "Enabled":
        return []
    with aws_errors(f"enable versioning on bucket {bucket!r}"):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return [Change(res, "versioning enabled", f"was {status}")]


def _ensure_encryption(s3: S3Client, bucket: str, res: str, kms_key_id: str | None) -> list[Change]:
    with aws_errors(f"read default encryption of bucket {bucket!r}"):
        current = _get_or_none(
            lambda: s3.get_bucket_encryption(Bucket=bucket),
            "ServerSideEncryptionConfigurationNotFoundError",
        )
    rules = (current or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    rule = rules[0] if rules else {}
    default = rule.get("ApplyServerSideEncryptionByDefault", {})
    algo = default.get("SSEAlgorithm", "")
    if kms_key_id:
        ok = (
            algo == "aws:kms"
            and default.get("KMSMasterKeyID") == kms_key_id
            and bool(rule.get("BucketKeyEnabled"))
        )
        wanted: ServerSideEncryptionRuleTypeDef = {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": kms_key_id,
            },
            "BucketKeyEnabled": True,
        }
        label = f"SSE-KMS with key {kms_key_id} and a bucket key"
    else:
        # SSE-S3 is the floor; a bucket already on SSE-KMS is kept as it is (stronger).
        ok = algo in ("AES256", "aws:kms", "aws:kms:dsse")
        wanted = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        label = "SSE-S3 (AES256)"
    if ok:
        return []
    with aws_errors(f"set default encryption on bucket {bucket!r}"):
        s3.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [wanted]}
        )
    return [Change(res, "default encryption set", f"{label}; was {algo or 'none'}")]


def _ensure_public_access_block(s3: S3Client, bucket: str, res: str) -> list[Change]:
    with aws_errors(f"read the public access block of bucket {bucket!r}"):
        current = _get_or_none(
            lambda: s3.get_public_access_block(Bucket=bucket),
            "NoSuchPublicAccessBlockConfiguration",
        )
    conf = (current or {}).get("PublicAccessBlockConfiguration", {})
    off = [flag for flag in PUBLIC_ACCESS_BLOCK if not conf.get(flag)]
    if not off:
        return []
    with aws_errors(f"block public access on bucket {bucket!r}"):
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK,  # type: ignore[arg-type]
        )
    return [Change(res, "public access blocked", "turned on: " + ", ".join(off))]


def _ensure_ownership(s3: S3Client, bucket: str, res: str) -> list[Change]:
    with aws_errors(f"read ownership controls of bucket {bucket!r}"):
        current = _get_or_none(
            lambda: s3.get_bucket_ownership_controls(Bucket=bucket),
            "OwnershipControlsNotFoundError",
        )
    rules = (current or {}).get("OwnershipControls", {}).get("Rules", [])
    have = rules[0].get("ObjectOwnership") if rules else None
    if have == OWNERSHIP:
        return []
    with aws_errors(f"set object ownership on bucket {bucket!r}"):
        controls: OwnershipControlsTypeDef = {"Rules": [{"ObjectOwnership": OWNERSHIP}]}
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=controls)
    return [Change(res, "object ownership set", f"{OWNERSHIP}; was {have or 'unset'}")]


def tls_statement(bucket: str, region: str) -> dict[str, Any]:
    """The policy statement that denies every request made without TLS."""
    arn = f"arn:{partition(region)}:s3:::{bucket}"
    return {
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _denies_plain_http(stmt: Mapping[str, Any], bucket: str, region: str) -> bool:
    """Does this statement already deny all non-TLS access to the bucket and its objects?"""
    if stmt.get("Effect") != "Deny" or stmt.get("Principal") not in ("*", {"AWS": "*"}):
        return False
    if not {"s3:*", "*"} & set(_as_list(stmt.get("Action"))):
        return False
    cond = stmt.get("Condition", {}).get("Bool", {})
    flag = [str(v).lower() for v in _as_list(cond.get("aws:SecureTransport"))]
    if flag != ["false"]:
        return False
    wanted = set(tls_statement(bucket, region)["Resource"])
    return wanted <= set(_as_list(stmt.get("Resource")))


def _ensure_tls_policy(s3: S3Client, bucket: str, region: str, res: str) -> list[Change]:
    with aws_errors(f"read the bucket policy of {bucket!r}"):
        current = _get_or_none(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy")
    if current and current.get("Policy"):
        try:
            policy = json.loads(current["Policy"])
        except ValueError as exc:
            raise BackendError(f"the bucket policy of {bucket!r} is not valid JSON") from exc
    else:
        policy = {"Version": "2012-10-17", "Statement": []}
    statements = _as_list(policy.get("Statement"))
    if any(_denies_plain_http(s, bucket, region) for s in statements):
        return []
    # Keep every other statement; replace a stale statement of ours.
    statements = [s for s in statements if s.get("Sid") != TLS_SID]
    statements.append(tls_statement(bucket, region))
    policy["Statement"] = statements
    with aws_errors(f"put the TLS-only bucket policy on {bucket!r}"):
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return [Change(res, "policy statement added", f"{TLS_SID}: deny requests without TLS")]


def _ensure_bucket_tags(
    s3: S3Client, bucket: str, res: str, tags: Mapping[str, str]
) -> list[Change]:
    if not tags:
        return []
    with aws_errors(f"read tags of bucket {bucket!r}"):
        current = _get_or_none(lambda: s3.get_bucket_tagging(Bucket=bucket), "NoSuchTagSet")
    have = {t["Key"]: t["Value"] for t in (current or {}).get("TagSet", [])}
    missing = {k: v for k, v in tags.items() if have.get(k) != v}
    if not missing:
        return []
    merged = {**have, **tags}
    with aws_errors(f"tag bucket {bucket!r}"):
        s3.put_bucket_tagging(
            Bucket=bucket,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(merged.items())]},
        )
    return [Change(res, "tags set", ", ".join(sorted(missing)))]


def plain_http_endpoint(s3: S3Client) -> bool:
    """True when the client talks to S3 over plain HTTP (the local emulator)."""
    return str(s3.meta.endpoint_url).lower().startswith("http://")


def ensure_bucket(
    s3: S3Client,
    *,
    bucket: str,
    region: str,
    kms_key_id: str | None = None,
    adopt: bool = False,
    expected_owner: str | None = None,
    tags: Mapping[str, str] | None = None,
    enforce_tls: bool | None = None,
) -> list[Change]:
    """Create the state bucket or bring it up to standard; returns the changes made.

    `enforce_tls=None` (automatic) adds the TLS-only policy unless the client reaches S3 over
    plain HTTP: such an endpoint (the sandbox emulator on 127.0.0.1) could never satisfy it.
    """
    if enforce_tls is None:
        enforce_tls = not plain_http_endpoint(s3)
    res = f"s3://{bucket}"
    changes: list[Change] = []
    state = _bucket_state(s3, bucket, expected_owner)
    if state == "forbidden" and not adopt:
        owner = f" (expected owner: account {expected_owner})" if expected_owner else ""
        raise BackendError(
            f"bucket {bucket!r} exists but this account cannot use it{owner}: it is probably "
            "owned by another AWS account. Bucket names are global: set another name in "
            "backend.bucket (runnerfleet.toml). If the bucket is yours and only this check "
            "is denied, rerun with --adopt."
        )
    created = False
    if state == "missing":
        created = _create_bucket(s3, bucket, region)
        if created:
            changes.append(Change(res, "created", f"in {region}"))
    if state == "present":
        _check_region(s3, bucket, region)
    status = _versioning(s3, bucket)
    if status != "Enabled" and not created and not adopt:
        raise BackendError(
            f"bucket {bucket!r} already exists and has versioning {status}, so runnerfleet did "
            "not create it and will not take it over silently. A state bucket needs versioning "
            "to keep earlier states. Rerun with --adopt to enable versioning (and encryption, "
            "the public access block, BucketOwnerEnforced and the TLS-only policy) on it, or "
            "set another name in backend.bucket."
        )
    changes += _ensure_versioning(s3, bucket, res, status)
    changes += _ensure_encryption(s3, bucket, res, kms_key_id)
    changes += _ensure_public_access_block(s3, bucket, res)
    changes += _ensure_ownership(s3, bucket, res)
    if enforce_tls:
        changes += _ensure_tls_policy(s3, bucket, region, res)
    changes += _ensure_bucket_tags(s3, bucket, res, tags or {})
    return changes


# ---- DynamoDB lock table ------------------------------------------------------------------------
def _describe_table(dynamodb: DynamoDBClient, table: str) -> dict[str, Any] | None:
    try:
        return dict(dynamodb.describe_table(TableName=table)["Table"])
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise backend_error(f"read DynamoDB table {table!r}", exc) from exc


def _wait_active(dynamodb: DynamoDBClient, table: str) -> None:
    with aws_errors(f"wait for DynamoDB table {table!r} to become active"):
        dynamodb.get_waiter("table_exists").wait(
            TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 90}
        )


def _check_key_schema(desc: Mapping[str, Any], table: str) -> None:
    schema = [(k["AttributeName"], k["KeyType"]) for k in desc.get("KeySchema", [])]
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    if schema != [(HASH_KEY, "HASH")] or types.get(HASH_KEY) != "S":
        raise BackendError(
            f"DynamoDB table {table!r} exists with key schema {schema} (types {types}), but "
            "Terraform's lock table needs exactly one hash key 'LockID' of type S. Set another "
            "name in backend.lock_table (runnerfleet.toml)."
        )


def _retry(what: str, call: Callable[[], Any], sleep: Callable[[float], None]) -> None:
    """Retry a call that AWS refuses while a new table settles (e.g. PITR right after create)."""
    for attempt in range(10):
        try:
            call()
            return
        except botocore.exceptions.ClientError as exc:
            settling = error_code(exc) in (
                "ContinuousBackupsUnavailableException",
                "ResourceInUseException",
            )
            if not settling or attempt == 9:
                raise backend_error(what, exc) from exc
            sleep(min(2.0 * (attempt + 1), 10.0))


def ensure_table(
    dynamodb: DynamoDBClient,
    *,
    table: str,
    tags: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Change]:
    """Create the lock table or bring it up to standard; returns the changes made."""
    res = f"dynamodb table {table}"
    changes: list[Change] = []
    desc = _describe_table(dynamodb, table)
    if desc is None:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeySchema": [{"AttributeName": HASH_KEY, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": HASH_KEY, "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "DeletionProtectionEnabled": True,
        }
        if tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        try:
            dynamodb.create_table(**kwargs)
            changes.append(Change(res, "created", "hash key LockID (S), on-demand"))
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceInUseException":  # created meanwhile: fine
                raise backend_error(f"create DynamoDB table {table!r}", exc) from exc
        _wait_active(dynamodb, table)
        desc = _describe_table(dynamodb, table) or {}
    elif desc.get("TableStatus") not in ("ACTIVE", None):
        _wait_active(dynamodb, table)
        desc = _describe_table(dynamodb, table) or desc
    _check_key_schema(desc, table)

    update: dict[str, Any] = {}
    billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if billing != "PAY_PER_REQUEST":
        update["BillingMode"] = "PAY_PER_REQUEST"
        changes.append(Change(res, "billing set to on-demand", f"was {billing}"))
    if not desc.get("DeletionProtectionEnabled"):
        update["DeletionProtectionEnabled"] = True
        changes.append(Change(res, "deletion protection enabled"))
    if update:
        _retry(
            f"update DynamoDB table {table!r}",
            lambda: dynamodb.update_table(TableName=table, **update),
            sleep,
        )
        _wait_active(dynamodb, table)

    with aws_errors(f"read point-in-time recovery of table {table!r}"):
        backups = dynamodb.describe_continuous_backups(TableName=table)
    pitr = (
        backups.get("ContinuousBackupsDescription", {})
        .get("PointInTimeRecoveryDescription", {})
        .get("PointInTimeRecoveryStatus", "DISABLED")
    )
    if pitr != "ENABLED":
        _retry(
            f"enable point-in-time recovery on table {table!r}",
            lambda: dynamodb.update_continuous_backups(
                TableName=table,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            ),
            sleep,
        )
        changes.append(Change(res, "point-in-time recovery enabled", f"was {pitr}"))

    if tags:
        arn = str(desc.get("TableArn", ""))
        with aws_errors(f"read tags of table {table!r}"):
            have = {
                t["Key"]: t["Value"]
                for t in dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
            }
        missing = {k: v for k, v in tags.items() if have.get(k) != v}
        if missing:
            with aws_errors(f"tag table {table!r}"):
                dynamodb.tag_resource(
                    ResourceArn=arn,
                    Tags=[{"Key": k, "Value": v} for k, v in sorted(missing.items())],
                )
            changes.append(Change(res, "tags set", ", ".join(sorted(missing))))
    return changes


def bootstrap(
    s3: S3Client,
    dynamodb: DynamoDBClient | None,
    *,
    bucket: str,
    table: str | None,
    region: str,
    kms_key_id: str | None = None,
    adopt: bool = False,
    expected_owner: str | None = None,
    tags: Mapping[str, str] | None = None,
    enforce_tls: bool | None = None,
) -> list[Change]:
    """Make sure the state bucket and (when `table` is set) the lock table meet the standard.

    Returns the changes made; an empty list when everything already matched. The TLS-only
    bucket policy is skipped for a plain-HTTP S3 endpoint unless `enforce_tls` says otherwise.
    """
    changes = ensure_bucket(
        s3,
        bucket=bucket,
        region=region,
        kms_key_id=kms_key_id,
        adopt=adopt,
        expected_owner=expected_owner,
        tags=tags,
        enforce_tls=enforce_tls,
    )
    if table:
        if dynamodb is None:
            raise BackendError("a DynamoDB client is needed to bootstrap the lock table")
        changes += ensure_table(dynamodb, table=table, tags=tags)
    return changes
