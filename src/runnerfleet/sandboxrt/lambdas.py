"""Lambda functions run as Lambda runs them: one long-lived worker process per function.

A `FunctionWorker` unpacks the function's zip (the `filename` Terraform deployed) into its own
task root, and starts `runnerfleet/sandboxrt/bootstrap.py` under the function's runtime
Python (`python3.12` -> a venv of pyenv's 3.12 holding only the runtime's boto3) in isolated
mode (`-I`: no user site, no PYTHON* variables, no script folder on sys.path), so only the
zip and boto3 are importable. Its environment is the function's (from Terraform state) plus
what Lambda sets (AWS_LAMBDA_FUNCTION_NAME, AWS_REGION, LAMBDA_TASK_ROOT, _HANDLER, ...) and
the credentials of `sts:AssumeRole` on the function's role, so IAM applies to its calls as
in AWS. Nothing else of this process leaks in.

`invoke(event)` sends one event and waits up to the function's timeout; a timeout kills the
worker (the next invocation starts a fresh one, a cold start), as Lambda does. The worker's
log lines (the handler's logging, through the bootstrap's Lambda-format root handler) go to
the sandbox's `control-plane.log`, each prefixed with the function name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from runnerfleet.sandboxrt.functions import FunctionSpec

# The boto3 that AWS's python3.12 runtime ships (the Lambda lock file pins the same).
RUNTIME_BOTO3 = "boto3==1.34.145"
CREDENTIAL_SECONDS = 3600
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")

# (role ARN, session name) -> {"AccessKeyId", "SecretAccessKey", "SessionToken"}
AssumeRole = Callable[[str, str], dict[str, str]]


class InvokeError(RuntimeError):
    """The function failed (its error reply, a timeout or a crashed worker)."""

    def __init__(self, function: str, error: dict[str, Any]) -> None:
        self.function = function
        self.error = error
        super().__init__(
            f"{function}: {error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
        )


def service_assume(endpoint: str, service: str, region: str) -> AssumeRole:
    """sts:AssumeRole of a role by an AWS service principal (lambda.amazonaws.com for
    functions, ec2.amazonaws.com for hosts) in the sandbox's AWS emulator: the role's trust
    policy must name that service, as in AWS (runnerfleet.strictaws.assume)."""
    from runnerfleet.strictaws import assume

    def assume_role(role_arn: str, session: str) -> dict[str, str]:
        creds = assume(
            role_arn, endpoint=endpoint, service=service, session_name=session[:64],
            region=region, duration_seconds=CREDENTIAL_SECONDS,
        )  # fmt: skip
        return {
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "SessionToken": creds.session_token,
        }

    return assume_role


def runtime_python(version: str) -> Path:
    """The interpreter of the function's runtime: a venv of that version with boto3 only
    (runnerfleet.pyruntime; a clear error naming the version when it is missing)."""
    from runnerfleet import pyruntime

    return pyruntime.venv(version, [RUNTIME_BOTO3])


@dataclass
class WorkerSettings:
    """Where and against what the workers run."""

    home: Path  # the sandbox's .runnerfleet/
    region: str
    account_id: str
    aws_endpoint: str
    log_path: Path


class FunctionWorker:
    """One function's worker process (started on first invoke, reused afterwards)."""

    def __init__(
        self,
        spec: FunctionSpec,
        settings: WorkerSettings,
        assume: AssumeRole,
        python: Callable[[str], Path] = runtime_python,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self._assume = assume
        self._python = python
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._started = 0.0
        self.invocations = 0
        self.cold_starts = 0

    # ---- process ---------------------------------------------------------------------------
    def task_root(self) -> Path:
        """The unpacked zip (once per code hash), like Lambda's /var/task."""
        tag = (self.spec.code_hash or "nohash").replace("/", "_").replace("+", "-")[:16]
        root = self.settings.home / "runtime" / "tasks" / f"{self.spec.name}-{tag}"
        if not (root / ".unpacked").exists():
            package = Path(self.spec.package)
            if not package.is_file():
                raise InvokeError(
                    self.spec.name,
                    {"errorType": "Runtime.InvalidPackage",
                     "errorMessage": f"the deployed package {package} does not exist; run "
                                     "`runnerfleet up` again"},
                )  # fmt: skip
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            with zipfile.ZipFile(package) as zf:
                zf.extractall(root)
            (root / ".unpacked").write_text(self.spec.code_hash, encoding="utf-8")
        return root

    def environment(self, task_root: Path) -> dict[str, str]:
        s, fn = self.settings, self.spec
        creds = self._assume(fn.role_arn, f"{fn.name}-{uuid.uuid4().hex[:8]}")
        env = dict(fn.environment)
        env.update(
            {
                "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"],
                "AWS_REGION": s.region,
                "AWS_DEFAULT_REGION": s.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": fn.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]")
                + uuid.uuid4().hex,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "LAMBDA_TASK_ROOT": str(task_root),
                "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
                "_HANDLER": fn.handler,
                "TZ": ":UTC",
                "LANG": "en_US.UTF-8",
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                # Sandbox only: every AWS call of the function goes to the AWS emulator.
                "AWS_ENDPOINT_URL": s.aws_endpoint,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "RUNNERFLEET_SANDBOX_FUNCTION_ARN": fn.arn,
            }
        )
        return env

    def _start(self) -> subprocess.Popen[str]:
        python = self._python(self.spec.python_version)
        root = self.task_root()
        proc = subprocess.Popen(
            [str(python), "-I", str(BOOTSTRAP)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environment(root),
            cwd=root,
            start_new_session=True,
        )
        assert proc.stderr is not None
        threading.Thread(
            target=self._pump_log, args=(proc.stderr,), name=f"log-{self.spec.name}", daemon=True
        ).start()
        self._started = time.monotonic()
        self.cold_starts += 1
        return proc

    def _pump_log(self, stream: IO[str]) -> None:
        with open(self.settings.log_path, "a", encoding="utf-8") as log:
            for line in stream:
                log.write(f"{self.spec.name} {line.rstrip()}\n")
                log.flush()

    def stop(self) -> None:
        with self._lock:
            self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    # ---- invocations -----------------------------------------------------------------------
    def invoke(self, event: Any) -> Any:
        """Run the handler on `event`; its result, or InvokeError with Lambda's error shape."""
        with self._lock:
            expired = time.monotonic() - self._started > CREDENTIAL_SECONDS - 300
            if self._proc is not None and (self._proc.poll() is not None or expired):
                self._kill()  # a crashed worker, or credentials about to expire: fresh start
            if self._proc is None:
                self._proc = self._start()
            proc = self._proc
            request_id = str(uuid.uuid4())
            deadline = time.time() + self.spec.timeout
            self.invocations += 1
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(
                    json.dumps(
                        {"event": event, "request_id": request_id,
                         "deadline_ms": int(deadline * 1000)}
                    ) + "\n"
                )  # fmt: skip
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._kill()
                raise InvokeError(
                    self.spec.name,
                    {"errorType": "Runtime.ExitError", "errorMessage": "the worker exited"},
                ) from None
            line = _read_line(proc.stdout, self.spec.timeout + 2)
            if line is None:
                self._kill()
                raise InvokeError(
                    self.spec.name,
                    {"errorType": "Sandbox.Timedout",
                     "errorMessage": f"Task timed out after {self.spec.timeout:.2f} seconds"},
                )  # fmt: skip
            if not line:
                code = proc.poll()
                self._kill()
                raise InvokeError(
                    self.spec.name,
                    {"errorType": "Runtime.ExitError",
                     "errorMessage": f"RequestId: {request_id} Error: Runtime exited with "
                                     f"error: exit status {code}"},
                )  # fmt: skip
        reply = json.loads(line)
        if "error" in reply:
            raise InvokeError(self.spec.name, dict(reply["error"]))
        return reply.get("result")


def _read_line(stream: IO[str], timeout: float) -> str | None:
    """One line from `stream` within `timeout` seconds; None on timeout, "" at EOF."""
    box: list[str] = []
    done = threading.Event()

    def read() -> None:
        box.append(stream.readline())
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout):
        return None
    return box[0]
