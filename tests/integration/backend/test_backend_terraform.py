"""The state backend under real `terraform` against the AWS emulator (moto server).

Covers: bootstrap idempotency on the emulator; two concurrent applies on one state, where
exactly one gets the lock and the other fails naming the holder (and the stale lock left by a
killed run is found, refused with a wrong ID and removed with the right one); `state restore`
of an older version, after which `terraform plan` shows the difference and every earlier
version still exists.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from runnerfleet.backend import BackendError, bootstrap, list_versions, lock_info, restore, unlock

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]

REGION = "us-east-1"


def test_bootstrap_is_idempotent_on_the_emulator(state_backend: Any) -> None:
    sb = state_backend
    # The fixture bootstrapped once; a second run over HTTP to the server changes nothing.
    again = bootstrap(sb.s3, sb.dynamodb, bucket=sb.bucket, table=sb.table, region=REGION)
    assert again == []
    assert sb.s3.get_bucket_versioning(Bucket=sb.bucket)["Status"] == "Enabled"
    table = sb.dynamodb.describe_table(TableName=sb.table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]
    # Terraform can use it: init + apply write the state, the digest item and release the locks.
    tf = sb.stack("idempotent")
    tf.run(["apply", "-no-color", "-input=false", "-auto-approve", '-var=names=["a"]'])
    assert [v.is_latest for v in list_versions(sb.s3, sb.bucket, sb.key)] == [True]
    digest = sb.dynamodb.get_item(
        TableName=sb.table, Key={"LockID": {"S": f"{sb.bucket}/{sb.key}-md5"}}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", digest["Item"]["Digest"]["S"])
    assert not lock_info(sb.s3, sb.dynamodb, bucket=sb.bucket, key=sb.key, table=sb.table).held
    assert bootstrap(sb.s3, sb.dynamodb, bucket=sb.bucket, table=sb.table, region=REGION) == []


def _wait_first_exit(procs: list[subprocess.Popen[str]], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, p in enumerate(procs):
            if p.poll() is not None:
                return i
        time.sleep(0.05)
    raise AssertionError(
        f"neither apply finished within {timeout:.0f} s: both hold the lock at once, or "
        "terraform hangs"
    )


def test_concurrent_applies_exactly_one_gets_the_lock(state_backend: Any, tmp_path: Path) -> None:
    sb = state_backend
    loc = {"bucket": sb.bucket, "key": sb.key, "table": sb.table}
    flag = tmp_path / "release.flag"
    tf_a, tf_b = sb.stack("alice"), sb.stack("bob")
    wait = f"-var=wait_for={flag}"
    procs = [sb.start_apply(tf_a, wait, "-var=run=a"), sb.start_apply(tf_b, wait, "-var=run=b")]
    try:
        loser = _wait_first_exit(procs, timeout=60)
        winner = 1 - loser
        out, _ = procs[loser].communicate(timeout=10)
        assert procs[loser].returncode != 0, f"both applies ran:\n{out}"
        assert "Error acquiring the state lock" in out, out
        named = re.search(r"^\s*ID:\s+(\S+)", out, re.M)
        who = re.search(r"^\s*Who:\s+(\S+)", out, re.M)
        assert named and who, f"the error does not name the lock holder:\n{out}"
        assert procs[winner].poll() is None, "the winner must still be running (holding it)"

        status = lock_info(sb.s3, sb.dynamodb, **loc)
        assert status.dynamodb is not None and status.s3 is not None
        assert status.dynamodb.id == status.s3.id == named.group(1)
        assert status.dynamodb.who == who.group(1)
        assert status.dynamodb.operation == "OperationTypeApply"

        # The winner dies without releasing its lock: a stale lock, as after a crashed CI job.
        os.killpg(procs[winner].pid, signal.SIGKILL)
        procs[winner].wait(timeout=10)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
            if p.stdout:
                p.stdout.close()

    stale = lock_info(sb.s3, sb.dynamodb, **loc)
    assert stale.held and stale.dynamodb is not None
    with pytest.raises(BackendError, match="does not match"):
        unlock(sb.s3, sb.dynamodb, lock_id="00000000-wrong", **loc)
    assert lock_info(sb.s3, sb.dynamodb, **loc).held
    assert unlock(sb.s3, sb.dynamodb, lock_id=stale.dynamodb.id, **loc) == ["dynamodb", "s3"]
    assert not lock_info(sb.s3, sb.dynamodb, **loc).held
    # Terraform can lock the state again.
    proc = tf_b.run(["plan", "-no-color", "-input=false", "-lock-timeout=0s"], ok_codes=(0, 2))
    assert proc.returncode in (0, 2)


def test_restore_older_version_then_plan_shows_the_difference(
    state_backend: Any, tmp_path: Path
) -> None:
    sb = state_backend
    tf = sb.stack("restore")
    apply = ["apply", "-no-color", "-input=false", "-auto-approve"]
    tf.run([*apply, '-var=names=["a"]'])
    tf.run([*apply, '-var=names=["a","b"]'])
    before = list_versions(sb.s3, sb.bucket, sb.key)
    assert len(before) >= 2

    def names_in(version_id: str) -> set[str]:
        body = sb.s3.get_object(Bucket=sb.bucket, Key=sb.key, VersionId=version_id)["Body"]
        state = json.loads(body.read())
        return {
            inst["index_key"]
            for res in state["resources"]
            if res["name"] == "item"
            for inst in res["instances"]
        }

    older = next(v for v in before if names_in(v.version_id) == {"a"})
    assert not older.is_latest

    result = restore(
        sb.s3,
        sb.dynamodb,
        bucket=sb.bucket,
        key=sb.key,
        table=sb.table,
        version_id=older.version_id,
        backup_dir=tmp_path / "backups",
    )
    assert result.backup is not None and result.backup.exists()

    after = list_versions(sb.s3, sb.bucket, sb.key)
    assert {v.version_id for v in before} < {v.version_id for v in after}  # nothing deleted
    assert after[0].version_id == result.new_version_id and after[0].is_latest
    assert names_in(result.new_version_id) == {"a"}

    # The config still says a and b: the plan wants to add b back, and it runs at all only
    # because restore updated the digest item (Terraform checks the state's MD5 against it).
    tfvars = tmp_path / "ab.tfvars.json"
    tfvars.write_text(json.dumps({"names": ["a", "b"]}))
    plan = tf.plan(tmp_path / "restore.tfplan", var_files=[tfvars])
    assert plan.has_changes
    assert plan.changed_addresses() == ['terraform_data.item["b"]']
    assert plan.summary() == {"create": 1, "update": 0, "delete": 0, "replace": 0}
