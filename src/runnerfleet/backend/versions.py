"""Versions of the state object, and restoring an earlier one as the new current state.

A restore never deletes anything: the chosen version is written again as a new version on top
(with its `serial` raised above every serial seen, so plans saved against the newer state are
rejected as stale), the state it replaces is saved to a local backup file first, and Terraform's
digest item in DynamoDB (LockID `<bucket>/<key>-md5`, attribute `Digest` = hex MD5 of the state
body) is updated so the next `terraform plan` accepts the restored state.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from runnerfleet.backend._aws import (
    S3_DIGEST_SUFFIX,
    aws_errors,
    backend_error,
    digest_id,
    error_code,
)
from runnerfleet.backend.locks import hold_lock, lock_info
from runnerfleet.backend.model import BackendError, StateVersion

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client


def list_versions(s3: S3Client, bucket: str, key: str) -> list[StateVersion]:
    """Every stored version of exactly `key` (not delete markers), newest first (S3's order)."""
    out: list[StateVersion] = []
    with aws_errors(f"list versions of s3://{bucket}/{key}"):
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
        for page in pages:
            for v in page.get("Versions", []):
                if v.get("Key") != key:
                    continue  # same prefix, other object (e.g. the .tflock lockfile)
                out.append(
                    StateVersion(
                        version_id=str(v.get("VersionId", "")),
                        last_modified=v["LastModified"],
                        size=int(v.get("Size", 0)),
                        is_latest=bool(v.get("IsLatest")),
                    )
                )
    return out  # S3 lists the versions of one key newest first


@dataclass(frozen=True)
class RestoreResult:
    """What `restore` did."""

    restored_version_id: str
    new_version_id: str
    backup: Path | None
    serial: int
    digest: str
    digest_updated: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "restored_version_id": self.restored_version_id,
            "new_version_id": self.new_version_id,
            "backup": str(self.backup) if self.backup else None,
            "serial": self.serial,
            "digest": self.digest,
            "digest_updated": self.digest_updated,
        }


def _parse_state(body: bytes, what: str) -> dict[str, Any]:
    try:
        state = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackendError(f"{what} is not a Terraform state (not JSON)") from exc
    if not isinstance(state, dict) or not isinstance(state.get("serial"), int):
        raise BackendError(f"{what} is not a Terraform state (no integer 'serial')")
    return state


def _current(s3: S3Client, bucket: str, key: str) -> tuple[bytes, str] | None:
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "NoSuchKey":  # (a missing bucket is NoSuchBucket: an error)
            return None
        raise backend_error(f"read s3://{bucket}/{key}", exc) from exc
    return obj["Body"].read(), str(obj.get("VersionId", "null"))


def write_backup(backup_dir: Path, key: str, version_id: str, body: bytes) -> Path:
    """Save a state body to a new private file (state holds secrets) and return its path."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    safe_key = re.sub(r"[^A-Za-z0-9._-]+", "_", key)
    safe_version = re.sub(r"[^A-Za-z0-9._-]+", "_", version_id)[:64]
    path = backup_dir / f"{safe_key}.{stamp}.{safe_version}.backup"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
    return path


def restore(
    s3: S3Client,
    dynamodb: DynamoDBClient | None,
    *,
    bucket: str,
    key: str,
    table: str | None,
    version_id: str,
    backup_dir: Path,
    use_lockfile: bool = True,
) -> RestoreResult:
    """Make `version_id` the current state again; see the module docstring for the guarantees."""
    where = f"s3://{bucket}/{key}"
    versions = list_versions(s3, bucket, key)
    chosen = next((v for v in versions if v.version_id == version_id), None)
    if chosen is None:
        raise BackendError(
            f"{where} has no version {version_id!r}; list them with `runnerfleet state versions`"
        )
    if chosen.is_latest:
        raise BackendError(f"version {version_id} is already the current state of {where}")
    with aws_errors(f"read version {version_id} of {where}"):
        old = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
    state = _parse_state(old, f"version {version_id} of {where}")
    status = lock_info(s3, dynamodb, bucket=bucket, key=key, table=table)
    if status.held:
        raise BackendError(
            f"the state {where} is locked ({status.describe()}); refusing to restore while "
            "Terraform may be writing it. Wait for that operation to finish; if the lock is "
            "stale, remove it with `runnerfleet state unlock <ID>`."
        )
    with hold_lock(
        s3,
        dynamodb,
        bucket=bucket,
        key=key,
        table=table,
        use_lockfile=use_lockfile,
        operation="runnerfleet state restore",
    ):
        current = _current(s3, bucket, key)
        current_serial = 0
        backup = None
        if current is not None:
            body, current_version = current
            backup = write_backup(backup_dir, key, current_version, body)
            try:
                current_serial = int(_parse_state(body, f"the current {where}")["serial"])
            except BackendError:
                current_serial = 0  # backed up as is; the restore replaces it
        state["serial"] = max(current_serial, int(state["serial"])) + 1
        new_body = (json.dumps(state, indent=2) + "\n").encode()
        with aws_errors(f"write the restored state to {where}"):
            put = s3.put_object(
                Bucket=bucket, Key=key, Body=new_body, ContentType="application/json"
            )
        digest = hashlib.md5(new_body, usedforsecurity=False).hexdigest()
        digest_updated = _update_digests(s3, dynamodb, bucket, key, table, digest)
    return RestoreResult(
        restored_version_id=version_id,
        new_version_id=str(put.get("VersionId", "")),
        backup=backup,
        serial=int(state["serial"]),
        digest=digest,
        digest_updated=digest_updated,
    )


def _update_digests(
    s3: S3Client,
    dynamodb: DynamoDBClient | None,
    bucket: str,
    key: str,
    table: str | None,
    digest: str,
) -> bool:
    """Record the new body's MD5 where Terraform checks it; True if any record was written."""
    updated = False
    if table and dynamodb is not None:
        try:
            dynamodb.put_item(
                TableName=table,
                Item={"LockID": {"S": digest_id(bucket, key)}, "Digest": {"S": digest}},
            )
        except botocore.exceptions.ClientError as exc:
            raise BackendError(
                f"the state was restored but its digest could not be recorded ({exc}); set "
                f"attribute Digest of item LockID={digest_id(bucket, key)!r} in table "
                f"{table!r} to {digest} before running terraform"
            ) from exc
        updated = True
    # Terraform versions that keep the digest in S3 (`<key>.md5`, raw MD5 bytes) when locking
    # with the lockfile only: update that object if it is there, never create it.
    digest_key = key + S3_DIGEST_SUFFIX
    try:
        s3.head_object(Bucket=bucket, Key=digest_key)
    except botocore.exceptions.ClientError:
        return updated
    with aws_errors(f"update the digest object s3://{bucket}/{digest_key}"):
        s3.put_object(Bucket=bucket, Key=digest_key, Body=bytes.fromhex(digest))
    return True
