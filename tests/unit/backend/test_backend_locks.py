"""lock_info() and unlock(): read Terraform's locks; remove only a lock whose ID matches."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runnerfleet.backend import BackendError, LockInfo, lock_info, unlock
from runnerfleet.backend.locks import hold_lock

BUCKET = "fleet-tfstate-123456789012"
TABLE = "fleet-tflock"
KEY = "aws/ec2-runner/terraform.tfstate"
LOCK_ID = "097302df-8954-1872-925f-2d83c5bae1b0"
INFO = {
    "ID": LOCK_ID,
    "Operation": "OperationTypeApply",
    "Info": "",
    "Who": "root@vm",
    "Version": "1.11.4",
    "Created": "2026-11-26T19:35:51.450798742Z",
    "Path": f"{BUCKET}/{KEY}",
}


@pytest.fixture
def backend(s3: Any, ddb: Any, make_backend: Any) -> None:
    make_backend(s3, ddb, BUCKET, TABLE)


def _lock_dynamodb(ddb: Any, info: dict[str, str] = INFO) -> None:
    ddb.put_item(
        TableName=TABLE,
        Item={"LockID": {"S": f"{BUCKET}/{KEY}"}, "Info": {"S": json.dumps(info)}},
    )


def _lock_s3(s3: Any, info: dict[str, str] = INFO) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY + ".tflock", Body=json.dumps(info).encode())


def _status(s3: Any, ddb: Any, table: str | None = TABLE) -> Any:
    return lock_info(s3, ddb, bucket=BUCKET, key=KEY, table=table)


def test_no_lock(s3: Any, ddb: Any, backend: None) -> None:
    status = _status(s3, ddb)
    assert not status.held
    assert status.as_dict() == {"held": False, "dynamodb": None, "s3": None}
    assert status.describe() == "no lock is held"


def test_lock_info_reads_both_places(s3: Any, ddb: Any, backend: None) -> None:
    _lock_dynamodb(ddb)
    _lock_s3(s3)
    status = _status(s3, ddb)
    assert status.held
    for info in (status.dynamodb, status.s3):
        assert info is not None
        assert info.id == LOCK_ID
        assert info.who == "root@vm"
        assert info.operation == "OperationTypeApply"
        assert info.version == "1.11.4"
        assert info.created == "2026-11-26T19:35:51.450798742Z"
    assert "held by root@vm" in status.describe()


def test_digest_item_is_not_a_lock(s3: Any, ddb: Any, backend: None) -> None:
    ddb.put_item(
        TableName=TABLE,
        Item={"LockID": {"S": f"{BUCKET}/{KEY}-md5"}, "Digest": {"S": "0" * 32}},
    )
    assert not _status(s3, ddb).held


def test_without_table_only_the_lockfile_is_read(s3: Any, ddb: Any, backend: None) -> None:
    _lock_dynamodb(ddb)
    assert not _status(s3, ddb, table=None).held
    _lock_s3(s3)
    status = _status(s3, None, table=None)
    assert status.s3 is not None and status.dynamodb is None


def test_unlock_with_wrong_id_is_refused_and_removes_nothing(
    s3: Any, ddb: Any, backend: None
) -> None:
    _lock_dynamodb(ddb)
    _lock_s3(s3)
    with pytest.raises(BackendError) as err:
        unlock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE, lock_id="not-the-id")
    msg = str(err.value)
    assert "does not match" in msg and LOCK_ID in msg and "root@vm" in msg
    status = _status(s3, ddb)
    assert status.dynamodb is not None and status.s3 is not None


def test_unlock_with_matching_id_removes_both(s3: Any, ddb: Any, backend: None) -> None:
    _lock_dynamodb(ddb)
    _lock_s3(s3)
    removed = unlock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE, lock_id=LOCK_ID)
    assert removed == ["dynamodb", "s3"]
    assert not _status(s3, ddb).held


def test_unlock_refused_when_places_disagree(s3: Any, ddb: Any, backend: None) -> None:
    _lock_dynamodb(ddb)
    _lock_s3(s3, {**INFO, "ID": "someone-else"})
    with pytest.raises(BackendError, match="someone-else"):
        unlock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE, lock_id=LOCK_ID)
    assert _status(s3, ddb).dynamodb is not None  # nothing removed


def test_unlock_without_lock(s3: Any, ddb: Any, backend: None) -> None:
    with pytest.raises(BackendError, match="no lock is held"):
        unlock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE, lock_id=LOCK_ID)


def test_unlock_leaves_the_digest_item(s3: Any, ddb: Any, backend: None) -> None:
    ddb.put_item(
        TableName=TABLE,
        Item={"LockID": {"S": f"{BUCKET}/{KEY}-md5"}, "Digest": {"S": "a" * 32}},
    )
    _lock_dynamodb(ddb)
    unlock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE, lock_id=LOCK_ID)
    item = ddb.get_item(TableName=TABLE, Key={"LockID": {"S": f"{BUCKET}/{KEY}-md5"}})
    assert item["Item"]["Digest"]["S"] == "a" * 32


def test_hold_lock_refuses_when_held_and_names_holder(s3: Any, ddb: Any, backend: None) -> None:
    _lock_dynamodb(ddb)
    with (
        pytest.raises(BackendError, match=f"dynamodb lock ID {LOCK_ID}, held by root@vm"),
        hold_lock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE),
    ):
        pytest.fail("the lock must not be granted")
    # The lockfile it had taken before the DynamoDB refusal is released again.
    assert _status(s3, ddb).s3 is None


def test_hold_lock_writes_terraform_readable_records(s3: Any, ddb: Any, backend: None) -> None:
    with hold_lock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE, operation="op") as mine:
        status = _status(s3, ddb)
        assert status.dynamodb == mine and status.s3 == mine
        raw = json.loads(status.s3.raw and json.dumps(status.s3.raw))
        assert set(raw) == {"ID", "Operation", "Info", "Who", "Version", "Created", "Path"}
        assert raw["Created"].endswith("Z") and "@" in raw["Who"]
    assert not _status(s3, ddb).held


def test_hold_lock_leaves_a_lock_that_was_replaced(s3: Any, ddb: Any, backend: None) -> None:
    with hold_lock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE) as mine:
        unlock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE, lock_id=mine.id)
        _lock_dynamodb(ddb)
        _lock_s3(s3)
    status = _status(s3, ddb)
    assert status.dynamodb is not None and status.dynamodb.id == LOCK_ID
    assert status.s3 is not None and status.s3.id == LOCK_ID


def test_lockinfo_parse_tolerates_garbage() -> None:
    info = LockInfo.parse(b"\xff not json")
    assert info.id == "" and "unreadable" in info.info
    assert LockInfo.parse("[1, 2]").id == ""
    assert LockInfo.parse(json.dumps(INFO)).describe() == (
        f"ID {LOCK_ID}, held by root@vm, for OperationTypeApply, "
        "since 2026-11-26T19:35:51.450798742Z, (Terraform 1.11.4)"
    )


def test_missing_bucket_is_an_error_not_no_lock(s3: Any) -> None:
    with pytest.raises(BackendError, match="runnerfleet backend bootstrap"):
        lock_info(s3, None, bucket="no-such-bucket-here", key=KEY, table=None)
