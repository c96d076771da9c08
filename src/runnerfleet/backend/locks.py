"""Terraform's state locks: who holds them, removing a stale one, and taking one ourselves.

Terraform locks a state in up to two places: an item in the DynamoDB lock table (LockID
`<bucket>/<key>`, attribute `Info` holding the lock JSON) and, with `use_lockfile`, an S3 object
`<key>.tflock` holding the same JSON. Both are read here; `hold_lock` takes both the way
Terraform does (conditional writes), so Terraform and runnerfleet exclude each other.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import botocore.exceptions

from runnerfleet import __version__
from runnerfleet.backend._aws import (
    aws_errors,
    backend_error,
    error_code,
    http_status,
    lock_path,
    lockfile_key,
)
from runnerfleet.backend.model import BackendError, LockInfo, LockStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}"


def _now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _dynamodb_lock(dynamodb: DynamoDBClient, table: str, bucket: str, key: str) -> str | None:
    """The raw `Info` JSON of the DynamoDB lock item, or None when no lock item exists."""
    with aws_errors(f"read the lock item from DynamoDB table {table!r}"):
        item = dynamodb.get_item(
            TableName=table,
            Key={"LockID": {"S": lock_path(bucket, key)}},
            ConsistentRead=True,
        ).get("Item")
    if not item:
        return None
    return str(item.get("Info", {}).get("S", ""))


def _s3_lock(s3: S3Client, bucket: str, key: str) -> bytes | None:
    """The body of the S3 lockfile, or None when there is none."""
    try:
        body = s3.get_object(Bucket=bucket, Key=lockfile_key(key))["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "NoSuchKey":  # (a missing bucket is NoSuchBucket: an error)
            return None
        raise backend_error(f"read the lockfile s3://{bucket}/{lockfile_key(key)}", exc) from exc
    return body or None


def lock_info(
    s3: S3Client,
    dynamodb: DynamoDBClient | None,
    *,
    bucket: str,
    key: str,
    table: str | None,
) -> LockStatus:
    """Who holds the state lock: the DynamoDB lock item (when a table is used) and the lockfile."""
    ddb = None
    if table and dynamodb is not None:
        raw = _dynamodb_lock(dynamodb, table, bucket, key)
        ddb = LockInfo.parse(raw) if raw is not None else None
    body = _s3_lock(s3, bucket, key)
    return LockStatus(dynamodb=ddb, s3=LockInfo.parse(body) if body is not None else None)


def unlock(
    s3: S3Client,
    dynamodb: DynamoDBClient | None,
    *,
    bucket: str,
    key: str,
    table: str | None,
    lock_id: str,
) -> list[str]:
    """Remove the lock whose ID is `lock_id` from every place it is held; returns those places.

    Nothing is removed unless every held lock carries that ID: a lock with another ID belongs
    to someone else, and removing it could let two writers corrupt the state.
    """
    status = lock_info(s3, dynamodb, bucket=bucket, key=key, table=table)
    where = f"s3://{bucket}/{key}"
    if not status.held:
        raise BackendError(f"no lock is held on {where}; nothing to unlock")
    others = [(place, info) for place, info in status.holders() if info.id != lock_id]
    if others:
        held = "; ".join(f"{place} lock {info.describe()}" for place, info in others)
        raise BackendError(
            f"lock ID {lock_id!r} does not match the lock held on {where} ({held}). Nothing "
            "was removed. Check the ID with `runnerfleet state lock`."
        )
    removed: list[str] = []
    if status.dynamodb is not None and table and dynamodb is not None:
        raw = _dynamodb_lock(dynamodb, table, bucket, key)
        try:
            dynamodb.delete_item(
                TableName=table,
                Key={"LockID": {"S": lock_path(bucket, key)}},
                ConditionExpression="#info = :info",
                ExpressionAttributeNames={"#info": "Info"},
                ExpressionAttributeValues={":info": {"S": raw or ""}},
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise BackendError(
                    f"the DynamoDB lock on {where} changed while unlocking; run "
                    "`runnerfleet state lock` and try again"
                ) from exc
            raise backend_error("remove the DynamoDB lock item", exc) from exc
        removed.append("dynamodb")
    if status.s3 is not None:
        body = _s3_lock(s3, bucket, key)
        if body is not None and LockInfo.parse(body).id == lock_id:
            with aws_errors(f"delete the lockfile s3://{bucket}/{lockfile_key(key)}"):
                s3.delete_object(Bucket=bucket, Key=lockfile_key(key))
            removed.append("s3")
    return removed


def new_lock_info(bucket: str, key: str, operation: str) -> LockInfo:
    """A lock record in Terraform's format, naming this user, host and runnerfleet."""
    return LockInfo(
        id=str(uuid.uuid4()),
        operation=operation,
        who=_who(),
        version=f"runnerfleet {__version__}",
        created=_now_rfc3339(),
        path=lock_path(bucket, key),
    )


def _locked_error(bucket: str, key: str, place: str, raw: str | bytes | None) -> str:
    holder = LockInfo.parse(raw).describe() if raw else "holder unknown"
    return (
        f"the state s3://{bucket}/{key} is locked ({place} lock {holder}). Wait for that "
        "operation to finish; if it is stale, remove it with `runnerfleet state unlock <ID>`."
    )


@contextmanager
def hold_lock(
    s3: S3Client,
    dynamodb: DynamoDBClient | None,
    *,
    bucket: str,
    key: str,
    table: str | None,
    use_lockfile: bool = True,
    operation: str = "runnerfleet",
) -> Iterator[LockInfo]:
    """Take the state lock the way Terraform does (lockfile, then DynamoDB item); release after.

    Raises BackendError naming the holder when someone else has it.
    """
    info = new_lock_info(bucket, key, operation)
    body = info.to_json()
    took_file = took_item = False
    try:
        if use_lockfile:
            try:
                s3.put_object(
                    Bucket=bucket,
                    Key=lockfile_key(key),
                    Body=body.encode(),
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in ("PreconditionFailed", "412") or http_status(exc) == 412:
                    holder = _s3_lock(s3, bucket, key)
                    raise BackendError(_locked_error(bucket, key, "s3", holder)) from exc
                raise backend_error("write the lockfile", exc) from exc
            took_file = True
        if table and dynamodb is not None:
            try:
                dynamodb.put_item(
                    TableName=table,
                    Item={"LockID": {"S": lock_path(bucket, key)}, "Info": {"S": body}},
                    ConditionExpression="attribute_not_exists(LockID)",
                )
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    holder_item = _dynamodb_lock(dynamodb, table, bucket, key)
                    raise BackendError(_locked_error(bucket, key, "dynamodb", holder_item)) from exc
                raise backend_error("write the DynamoDB lock item", exc) from exc
            took_item = True
        yield info
    finally:
        if took_item and table and dynamodb is not None:
            # A lock that is no longer ours (force-unlocked meanwhile) is left alone.
            with suppress(botocore.exceptions.ClientError):
                dynamodb.delete_item(
                    TableName=table,
                    Key={"LockID": {"S": lock_path(bucket, key)}},
                    ConditionExpression="#info = :info",
                    ExpressionAttributeNames={"#info": "Info"},
                    ExpressionAttributeValues={":info": {"S": body}},
                )
        if took_file:
            current = _s3_lock(s3, bucket, key)
            if current is not None and LockInfo.parse(current).id == info.id:
                s3.delete_object(Bucket=bucket, Key=lockfile_key(key))
