"""A function runs as Lambda runs it: the runtime's Python (3.12) in isolated mode, only the
zip and boto3 importable, one reused process, Lambda's context and error shapes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from runnerfleet.sandboxrt.functions import FunctionSpec
from runnerfleet.sandboxrt.lambdas import FunctionWorker, InvokeError, WorkerSettings

HANDLER = """
import logging, sys
log = logging.getLogger("fn")
log.setLevel("INFO")
CALLS = {"n": 0}

def handle(event, context):
    CALLS["n"] += 1
    print("a print goes to the log, never into the reply")
    log.info("decided %s", event["x"])
    try:
        import pytest  # the CLI's environment must not leak in
        leaked = True
    except ImportError:
        leaked = False
    import boto3
    return {
        "calls": CALLS["n"], "python": "%d.%d" % sys.version_info[:2], "leaked": leaked,
        "boto3": boto3.__version__, "name": context.function_name,
        "request_id": context.aws_request_id,
        "remaining": context.get_remaining_time_in_millis(),
    }

def fail(event, context):
    raise ValueError("nope")
"""


def _zip(tmp_path: Path) -> Path:
    path = tmp_path / "fn.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fn.py", HANDLER)
    return path


def _creds(_role: str, _session: str) -> dict[str, str]:
    return {"AccessKeyId": "AKIA", "SecretAccessKey": "s", "SessionToken": "t"}


def _worker(tmp_path: Path, handler: str) -> FunctionWorker:
    settings = WorkerSettings(
        home=tmp_path, region="us-east-1", account_id="123456789012",
        aws_endpoint="http://127.0.0.1:9", log_path=tmp_path / "control-plane.log",
    )  # fmt: skip
    spec = FunctionSpec(
        "t-fn", "arn:aws:lambda:us-east-1:123456789012:function:t-fn", handler, "python3.12",
        "arn:aws:iam::123456789012:role/t-fn", str(_zip(tmp_path)), timeout=20,
    )  # fmt: skip
    return FunctionWorker(spec, settings, _creds)


def test_handler_runs_in_an_isolated_reused_312_process(tmp_path: Path) -> None:
    worker = _worker(tmp_path, "fn.handle")
    try:
        first = worker.invoke({"x": 1})
        second = worker.invoke({"x": 2})
    finally:
        worker.stop()
    assert first["python"] == "3.12" and first["leaked"] is False
    assert first["boto3"].startswith("1.34.")
    assert (first["calls"], second["calls"]) == (1, 2)  # one process, reused
    assert worker.cold_starts == 1
    assert first["name"] == "t-fn" and first["request_id"] != second["request_id"]
    assert 0 < first["remaining"] <= 20_000
    log = (tmp_path / "control-plane.log").read_text()
    assert "t-fn [INFO]" in log and "decided 2" in log and "a print goes to the log" in log


def test_errors_come_back_in_lambdas_shape(tmp_path: Path) -> None:
    failing = _worker(tmp_path, "fn.fail")
    missing = _worker(tmp_path, "nomodule.handle")
    try:
        with pytest.raises(InvokeError, match="ValueError: nope") as err:
            failing.invoke({})
        assert err.value.error["errorType"] == "ValueError"
        with pytest.raises(InvokeError, match=r"Runtime\.ImportModuleError"):
            missing.invoke({})
    finally:
        failing.stop()
        missing.stop()
