"""Small helpers for reading botocore errors and naming Terraform's backend objects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import botocore.exceptions

from runnerfleet.backend.model import BackendError

LOCKFILE_SUFFIX = ".tflock"  # Terraform's S3 lockfile: `<key>.tflock` beside the state
DIGEST_SUFFIX = "-md5"  # Terraform's DynamoDB digest item: LockID `<bucket>/<key>-md5`
S3_DIGEST_SUFFIX = ".md5"  # digest object some Terraform versions keep beside the state


# Error codes meaning the bucket or the lock table does not exist (yet).
MISSING_BACKEND_CODES = frozenset({"NoSuchBucket", "ResourceNotFoundException"})


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_not_found(exc: botocore.exceptions.ClientError, *codes: str) -> bool:
    """True for a 404 or one of the given error codes."""
    return error_code(exc) in {"404", "NotFound", *codes} or http_status(exc) == 404


def backend_error(what: str, exc: botocore.exceptions.ClientError) -> BackendError:
    """A BackendError saying what failed, AWS's reason, and a hint when the backend is missing."""
    err = exc.response.get("Error", {})
    code = str(err.get("Code", "error"))
    hint = ""
    if code in MISSING_BACKEND_CODES:
        hint = "; create the state backend with `runnerfleet backend bootstrap`"
    return BackendError(f"could not {what}: {code}: {err.get('Message') or exc}{hint}")


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn an AWS error into a BackendError that says what was being done."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        raise backend_error(what, exc) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise BackendError(f"could not {what}: {exc}") from exc


def lock_path(bucket: str, key: str) -> str:
    """Terraform's DynamoDB lock item id."""
    return f"{bucket}/{key}"


def digest_id(bucket: str, key: str) -> str:
    """Terraform's DynamoDB digest item id."""
    return lock_path(bucket, key) + DIGEST_SUFFIX


def lockfile_key(key: str) -> str:
    return key + LOCKFILE_SUFFIX


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
