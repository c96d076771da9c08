"""list_versions() and restore(): roll back without deleting, under a lock, digest kept right."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from runnerfleet.backend import BackendError, list_versions, restore
from runnerfleet.backend.locks import hold_lock

BUCKET = "fleet-tfstate-123456789012"
TABLE = "fleet-tflock"
KEY = "aws/ec2-runner/terraform.tfstate"


def _state(serial: int, resources: list[str]) -> bytes:
    body = {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": serial,
        "lineage": "4f1c2a9e-0000-4000-8000-000000000001",
        "outputs": {},
        "resources": [{"mode": "managed", "type": "terraform_data", "name": n} for n in resources],
        "check_results": None,
    }
    return (json.dumps(body, indent=2) + "\n").encode()


def _put_state(s3: Any, ddb: Any, body: bytes) -> str:
    """Write a state the way Terraform does: object, then its digest item."""
    vid = str(s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)["VersionId"])
    ddb.put_item(
        TableName=TABLE,
        Item={
            "LockID": {"S": f"{BUCKET}/{KEY}-md5"},
            "Digest": {"S": hashlib.md5(body, usedforsecurity=False).hexdigest()},
        },
    )
    return vid


@pytest.fixture
def history(s3: Any, ddb: Any, make_backend: Any) -> list[str]:
    """Three applied states: [a], [a, b], [a, b, c]; returns their version ids, oldest first."""
    make_backend(s3, ddb, BUCKET, TABLE)
    return [
        _put_state(s3, ddb, _state(1, ["a"])),
        _put_state(s3, ddb, _state(2, ["a", "b"])),
        _put_state(s3, ddb, _state(3, ["a", "b", "c"])),
    ]


def _restore(s3: Any, ddb: Any, version_id: str, tmp_path: Path, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "bucket": BUCKET,
        "key": KEY,
        "table": TABLE,
        "version_id": version_id,
        "backup_dir": tmp_path / "backups",
    }
    args.update(kw)
    return restore(s3, ddb, **args)


def test_list_versions_newest_first_only_the_state_object(
    s3: Any, ddb: Any, history: list[str]
) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY + ".tflock", Body=b"{}")
    s3.delete_object(Bucket=BUCKET, Key=KEY + ".tflock")
    versions = list_versions(s3, BUCKET, KEY)
    assert [v.version_id for v in versions] == list(reversed(history))
    assert [v.is_latest for v in versions] == [True, False, False]
    assert versions[0].size == len(_state(3, ["a", "b", "c"]))
    assert versions[0].last_modified >= versions[-1].last_modified
    d = versions[0].as_dict()
    assert set(d) == {"version_id", "last_modified", "size", "is_latest"}


def test_list_versions_of_missing_state_is_empty(s3: Any, ddb: Any, make_backend: Any) -> None:
    make_backend(s3, ddb, BUCKET, TABLE)
    assert list_versions(s3, BUCKET, KEY) == []


def test_restore_keeps_every_version_and_updates_digest(
    s3: Any, ddb: Any, history: list[str], tmp_path: Path
) -> None:
    result = _restore(s3, ddb, history[0], tmp_path)

    versions = list_versions(s3, BUCKET, KEY)
    ids = [v.version_id for v in versions]
    assert ids[0] == result.new_version_id
    assert ids[1:] == list(reversed(history))  # nothing deleted

    body = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    restored = json.loads(body)
    assert [r["name"] for r in restored["resources"]] == ["a"]
    assert restored["serial"] == 4 == result.serial  # above every serial seen
    assert restored["lineage"] == json.loads(_state(1, []))["lineage"]

    item = ddb.get_item(TableName=TABLE, Key={"LockID": {"S": f"{BUCKET}/{KEY}-md5"}})["Item"]
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    assert item["Digest"]["S"] == md5 == result.digest
    assert result.digest_updated

    # The lock taken for the restore is released in both places.
    assert "Item" not in ddb.get_item(TableName=TABLE, Key={"LockID": {"S": f"{BUCKET}/{KEY}"}})
    lock_keys = [v["Key"] for v in s3.list_object_versions(Bucket=BUCKET).get("Versions", [])]
    assert KEY + ".tflock" in lock_keys  # it was written (and deleted: delete marker on top)
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=BUCKET, Key=KEY + ".tflock")


def test_restore_backs_up_the_current_state_privately(
    s3: Any, ddb: Any, history: list[str], tmp_path: Path
) -> None:
    result = _restore(s3, ddb, history[1], tmp_path)
    assert result.backup is not None
    assert result.backup.parent == tmp_path / "backups"
    assert result.backup.read_bytes() == _state(3, ["a", "b", "c"])
    assert history[2] in result.backup.name
    assert stat.S_IMODE(result.backup.stat().st_mode) == 0o600


def test_restore_refused_while_dynamodb_lock_held(
    s3: Any, ddb: Any, history: list[str], tmp_path: Path
) -> None:
    info = {"ID": "1b2c-lock", "Operation": "OperationTypeApply", "Who": "alice@ci"}
    ddb.put_item(
        TableName=TABLE,
        Item={"LockID": {"S": f"{BUCKET}/{KEY}"}, "Info": {"S": json.dumps(info)}},
    )
    with pytest.raises(BackendError) as err:
        _restore(s3, ddb, history[0], tmp_path)
    msg = str(err.value)
    assert "locked" in msg and "1b2c-lock" in msg and "alice@ci" in msg
    assert "runnerfleet state unlock" in msg
    assert [v.version_id for v in list_versions(s3, BUCKET, KEY)] == list(reversed(history))
    assert not (tmp_path / "backups").exists()


def test_restore_refused_while_s3_lockfile_held(
    s3: Any, ddb: Any, history: list[str], tmp_path: Path
) -> None:
    info = {"ID": "lockfile-id", "Operation": "OperationTypePlan", "Who": "bob@laptop"}
    s3.put_object(Bucket=BUCKET, Key=KEY + ".tflock", Body=json.dumps(info).encode())
    with pytest.raises(BackendError, match="bob@laptop"):
        _restore(s3, ddb, history[0], tmp_path)
    assert len(list_versions(s3, BUCKET, KEY)) == 3


def test_restore_lock_excludes_terraform_meanwhile(s3: Any, ddb: Any, history: list[str]) -> None:
    """While runnerfleet holds the lock, a Terraform-style conditional lock write fails."""
    with hold_lock(s3, ddb, bucket=BUCKET, key=KEY, table=TABLE, operation="test") as info:
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            ddb.put_item(
                TableName=TABLE,
                Item={"LockID": {"S": f"{BUCKET}/{KEY}"}, "Info": {"S": "{}"}},
                ConditionExpression="attribute_not_exists(LockID)",
            )
        with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
            s3.put_object(Bucket=BUCKET, Key=KEY + ".tflock", Body=b"{}", IfNoneMatch="*")
        assert info.operation == "test" and info.path == f"{BUCKET}/{KEY}"


def test_restore_unknown_version(s3: Any, ddb: Any, history: list[str], tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="runnerfleet state versions"):
        _restore(s3, ddb, "no-such-version", tmp_path)


def test_restore_of_latest_is_refused(
    s3: Any, ddb: Any, history: list[str], tmp_path: Path
) -> None:
    with pytest.raises(BackendError, match="already the current state"):
        _restore(s3, ddb, history[2], tmp_path)


def test_restore_refuses_a_version_that_is_not_a_state(
    s3: Any, ddb: Any, history: list[str], tmp_path: Path
) -> None:
    bad = str(s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"not json")["VersionId"])
    _put_state(s3, ddb, _state(5, ["a"]))
    with pytest.raises(BackendError, match="not a Terraform state"):
        _restore(s3, ddb, bad, tmp_path)
    assert not (tmp_path / "backups").exists()  # refused before anything was written


def test_restore_with_s3_locking_only_updates_s3_digest_object_if_present(
    s3: Any, ddb: Any, history: list[str], tmp_path: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY + ".md5", Body=b"\x00" * 16)
    result = _restore(s3, None, history[0], tmp_path, table=None)
    body = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    digest_obj = s3.get_object(Bucket=BUCKET, Key=KEY + ".md5")["Body"].read()
    assert digest_obj == hashlib.md5(body, usedforsecurity=False).digest()
    assert result.digest_updated


def test_restore_with_s3_locking_only_creates_no_digest_object(
    s3: Any, ddb: Any, history: list[str], tmp_path: Path
) -> None:
    result = _restore(s3, None, history[0], tmp_path, table=None)
    assert not result.digest_updated
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=BUCKET, Key=KEY + ".md5")
