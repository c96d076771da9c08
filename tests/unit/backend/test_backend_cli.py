"""`runnerfleet backend bootstrap` and `runnerfleet state ...` end to end against moto (--aws)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from runnerfleet.backend import bootstrap
from runnerfleet.cli import app
from runnerfleet.target import Target

ACCOUNT = "123456789012"  # moto's default account
BUCKET = f"clifleet-tfstate-{ACCOUNT}"  # the config's derived bucket name
TABLE = "clifleet-tflock"
KEY = "aws/ec2-runner/terraform.tfstate"

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, aws: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    # One boto3 session for all clients: a fresh session per client re-reads the service
    # models (about half a second each), which would make this file slow, not more thorough.
    session = boto3.Session(region_name="us-east-1")
    monkeypatch.setattr(Target, "session", lambda self: session)
    (tmp_path / "runnerfleet.toml").write_text('name = "clifleet"\n')
    return tmp_path


def _cli(project: Path, *args: str, input: str | None = None) -> Any:
    return runner.invoke(
        app, [*args, "--config", str(project / "runnerfleet.toml"), "--aws"], input=input
    )


def _state(serial: int, names: list[str]) -> bytes:
    body = {"version": 4, "serial": serial, "lineage": "l-1", "resources": names}
    return json.dumps(body).encode()


@pytest.fixture
def applied(s3: Any, ddb: Any, project: Path) -> list[str]:
    """A backend with two applied states. The TLS-only policy is left out: moto would apply its
    Deny statement to every request, whatever the condition says."""
    bootstrap(s3, ddb, bucket=BUCKET, table=TABLE, region="us-east-1", enforce_tls=False)
    ids = []
    for serial, names in ((1, ["a"]), (2, ["a", "b"])):
        body = _state(serial, names)
        ids.append(s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)["VersionId"])
        ddb.put_item(
            TableName=TABLE,
            Item={
                "LockID": {"S": f"{BUCKET}/{KEY}-md5"},
                "Digest": {"S": hashlib.md5(body, usedforsecurity=False).hexdigest()},
            },
        )
    return ids


def _lock(ddb: Any, s3: Any, lock_id: str = "lock-123") -> None:
    info = json.dumps({"ID": lock_id, "Operation": "OperationTypeApply", "Who": "carol@ci"})
    ddb.put_item(TableName=TABLE, Item={"LockID": {"S": f"{BUCKET}/{KEY}"}, "Info": {"S": info}})
    s3.put_object(Bucket=BUCKET, Key=KEY + ".tflock", Body=info.encode())


def test_bootstrap_json_then_no_changes(project: Path, s3: Any) -> None:
    first = _cli(project, "backend", "bootstrap", "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["changed"] is True and data["bucket"] == BUCKET and data["table"] == TABLE
    assert {"resource": f"s3://{BUCKET}", "action": "created", "detail": "in us-east-1"} in data[
        "changes"
    ]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags == {"runnerfleet:fleet": "clifleet", "runnerfleet:role": "deploy"}

    second = _cli(project, "backend", "bootstrap", "--json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["changes"] == []

    human = _cli(project, "backend", "bootstrap")
    assert human.exit_code == 0
    assert "up to standard; nothing changed" in human.stdout


def test_bootstrap_refuses_unversioned_bucket_unless_adopt(project: Path, s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    refused = _cli(project, "backend", "bootstrap")
    assert refused.exit_code == 1
    assert "--adopt" in refused.stderr and "versioning" in refused.stderr
    assert "backend.bucket" in refused.stderr  # the setting to change, shown intact
    adopted = _cli(project, "backend", "bootstrap", "--adopt")
    assert adopted.exit_code == 0, adopted.output
    assert "versioning enabled" in adopted.stdout


def test_versions_json_and_table(project: Path, applied: list[str]) -> None:
    res = _cli(project, "state", "versions", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["state"] == f"s3://{BUCKET}/{KEY}"
    assert [v["version_id"] for v in data["versions"]] == list(reversed(applied))
    assert [v["is_latest"] for v in data["versions"]] == [True, False]
    human = _cli(project, "state", "versions")
    assert human.exit_code == 0 and "latest" in human.stdout


def test_restore_asks_and_no_changes_nothing(project: Path, applied: list[str], s3: Any) -> None:
    res = _cli(project, "state", "restore", applied[0], input="n\n")
    assert res.exit_code == 1
    assert "nothing changed" in res.stderr
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=KEY)["Versions"]) == 2


def test_restore_yes_json(project: Path, applied: list[str], s3: Any) -> None:
    res = _cli(project, "state", "restore", applied[0], "--yes", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["restored_version_id"] == applied[0] and data["digest_updated"] is True
    backup = Path(data["backup"])
    assert backup.parent == project / ".runnerfleet" / "backups"
    assert json.loads(backup.read_bytes())["serial"] == 2
    current = json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())
    assert current["resources"] == ["a"] and current["serial"] == 3


def test_restore_refused_under_lock(project: Path, applied: list[str], s3: Any, ddb: Any) -> None:
    _lock(ddb, s3)
    res = _cli(project, "state", "restore", applied[0], "--yes")
    assert res.exit_code == 1
    assert "locked" in res.stderr and "carol@ci" in res.stderr and "lock-123" in res.stderr


def test_lock_shows_holder(project: Path, applied: list[str], s3: Any, ddb: Any) -> None:
    free = _cli(project, "state", "lock", "--json")
    assert json.loads(free.stdout)["held"] is False
    _lock(ddb, s3)
    res = _cli(project, "state", "lock", "--json")
    data = json.loads(res.stdout)
    assert data["held"] is True
    assert data["dynamodb"]["who"] == data["s3"]["who"] == "carol@ci"
    human = _cli(project, "state", "lock")
    assert "carol@ci" in human.stdout and "lock-123" in human.stdout


def test_unlock_wrong_id_refused(project: Path, applied: list[str], s3: Any, ddb: Any) -> None:
    _lock(ddb, s3)
    res = _cli(project, "state", "unlock", "other-id", "--yes")
    assert res.exit_code == 1 and "does not match" in res.stderr
    assert json.loads(_cli(project, "state", "lock", "--json").stdout)["held"] is True


def test_unlock_asks_then_removes(project: Path, applied: list[str], s3: Any, ddb: Any) -> None:
    _lock(ddb, s3)
    declined = _cli(project, "state", "unlock", "lock-123", input="n\n")
    assert declined.exit_code == 1 and "still held" in declined.stderr
    res = _cli(project, "state", "unlock", "lock-123", input="y\n")
    assert res.exit_code == 0, res.output
    assert "Removed lock lock-123" in res.stdout
    assert json.loads(_cli(project, "state", "lock", "--json").stdout)["held"] is False


def test_bad_config_exits_2(tmp_path: Path, aws: None) -> None:
    (tmp_path / "runnerfleet.toml").write_text('[backend]\nbucket = "Bad_Bucket"\n')
    res = runner.invoke(
        app, ["state", "versions", "--config", str(tmp_path / "runnerfleet.toml"), "--aws"]
    )
    assert res.exit_code == 2
    assert "backend.bucket" in res.stderr


def test_missing_backend_says_to_bootstrap(project: Path) -> None:
    res = _cli(project, "state", "lock")
    assert res.exit_code == 1
    assert "runnerfleet backend bootstrap" in res.stderr


def test_help_texts() -> None:
    for args in (["backend", "bootstrap"], ["state", "restore"], ["state", "unlock"]):
        res = runner.invoke(app, [*args, "--help"])
        assert res.exit_code == 0 and "Usage" in res.stdout


def test_lock_text_is_shown_literally(project: Path, applied: list[str], s3: Any, ddb: Any) -> None:
    info = json.dumps({"ID": "[b]id[/b]", "Operation": "apply", "Who": "[red]mallory[/red]"})
    ddb.put_item(TableName=TABLE, Item={"LockID": {"S": f"{BUCKET}/{KEY}"}, "Info": {"S": info}})
    res = _cli(project, "state", "lock")
    assert "[red]mallory[/red]" in res.stdout and "[b]id[/b]" in res.stdout
