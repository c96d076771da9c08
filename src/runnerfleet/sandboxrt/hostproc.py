"""A sandbox runner host as a process: the agent installed from the host artifact, as on EC2.

What a host's cloud-init does, step by step, and what the sandbox does in its place:

1. **User data.** The instance's own (`DescribeInstanceAttribute userData`; moto copies a
   launch template's onto the instances a group launches). Its `write_files` give the host's
   `host.env` and `install-agent.sh`, written into the host's directory (`host_files`).
2. **Download.** `s3://$RUNNERFLEET_AGENT_BUCKET/$RUNNERFLEET_AGENT_KEY` with the instance
   role's credentials (IAM applies, as to `aws s3 cp` on the host), every boot.
3. **Verify.** SHA-256 of the download against `RUNNERFLEET_AGENT_SHA256`: on a mismatch the
   host fails closed, with `install-agent: digest mismatch for s3://...: expected sha256 X,
   actual sha256 Y` in its `user-data.log` and its detail (`DigestMismatch`).
4. **Install.** The host's own `install-agent.sh` with Python 3.10 (Ubuntu 22.04's;
   `runnerfleet.pyruntime.find_python`) and `AGENT_ARTIFACT=<the verified file>`: it checks
   the digest again and `pip install --no-index --find-links` the artifact's wheels into a
   venv. Unlike a host, the sandbox builds that venv once per (artifact digest, interpreter)
   under `~/.cache/runnerfleet/agent-venvs/` (`agent_venv`: flock-ed, so concurrent hosts and
   sandboxes build it once; a half-built venv is never used) and every host of that digest
   runs from it: no pip per host.
5. **Start.** The unit's `ExecStart=/opt/runnerfleet/venv/bin/runnerfleet-agent` (the venv's
   console script) with `host.env` as its whole environment (systemd's `EnvironmentFile`; none
   of the supervisor's variables) plus the sandbox's redirections: `AWS_ENDPOINT_URL` (the AWS
   emulator), `AWS_EC2_METADATA_SERVICE_ENDPOINT` (`HostImds`, below),
   `RUNNERFLEET_STATE_DIR`/`RUNNERFLEET_RUNNER_DIR` (the host's directory, where the runner
   stand-in is installed in place of the actions runner), `RUNNERFLEET_RUNNER_USER` empty (the
   sandbox has no `runner` user; tests/integration/hosts/test_runner_user.py covers it) and
   `RUNNERFLEET_POLL_INTERVAL` (5 s compressed by the sandbox clock). Each agent gets its own
   process group; stopping a host is systemd's stop: SIGTERM to the group (the agent drains
   its runner), SIGKILL after a bound (`AgentProcess.stop`). The agent also gets
   `PR_SET_PDEATHSIG` (SIGTERM when the supervisor dies), so no agent outlives the sandbox.
   The unit's `Restart=on-failure` is not mirrored: an agent that exits non-zero leaves its
   host `failed`.

**Credentials.** As on EC2, from the instance metadata service: `HostImds` is one loopback
IMDSv2 for every host of the sandbox, each under its own path (`http://127.0.0.1:P/<id>`,
which the SDKs' `AWS_EC2_METADATA_SERVICE_ENDPOINT` accepts), serving the session token,
`instance-id` and `iam/security-credentials/<role>`: the instance profile role's credentials
from `sts:AssumeRole` by ec2.amazonaws.com in the emulator (one hour), renewed 10 minutes
before they expire, as EC2 makes new ones available at least five minutes before. boto3's
default credential chain in the agent finds them there and refreshes them itself, so a host
that lives longer than an hour keeps working. No credential is put in the agent's
environment, argv or logs.

**State.** The agent's own signals: its `state X` log lines on stderr (also kept in the
host's `agent.log`) and its `status/status.json` (the runner's name).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from runnerfleet import pyruntime

HOST_ENV = "/etc/runnerfleet/host.env"
INSTALL_AGENT = "/usr/local/lib/runnerfleet/install-agent.sh"
AGENT_PYTHON = "3.10"  # Ubuntu 22.04's python3
CREDENTIAL_SECONDS = 3600
RENEW_BEFORE_SECONDS = 600
STATE_LINE = re.compile(r"runnerfleet\.agent\.health: state ([a-z-]+)(?:: (.*))?$")
_PR_SET_PDEATHSIG = 1

AssumeRole = Callable[[str, str], Mapping[str, str]]


class HostBootError(RuntimeError):
    """A step of the host's boot failed; the message names the step and why."""


class DigestMismatch(HostBootError):
    """The downloaded artifact is not the one the user data names (fail closed)."""


# ---- user data -----------------------------------------------------------------------------
def decode_user_data(raw: str) -> str:
    """The cloud-init text of EC2's base64 `userData` attribute (gzip or base64 twice too)."""
    data = raw.encode()
    for _ in range(3):
        if data.startswith(b"\x1f\x8b"):
            data = gzip.decompress(data)
            continue
        if data.lstrip().startswith((b"#cloud-config", b"#!")):
            return data.decode()
        try:
            data = base64.b64decode(data, validate=False)
        except ValueError:
            break
    raise HostBootError("the instance's user data is not a cloud-init document")


def host_files(user_data: str) -> dict[str, str]:
    """cloud-init `write_files` of the user data: path -> content."""
    import yaml  # moto[server] (the sandbox's AWS emulator) depends on PyYAML

    doc = yaml.safe_load(user_data)
    if not isinstance(doc, dict):
        raise HostBootError("the instance's user data is not a #cloud-config mapping")
    return {
        str(f["path"]): str(f.get("content") or "")
        for f in doc.get("write_files") or []
        if isinstance(f, dict) and f.get("path")
    }


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them: comments and blanks skipped,
    a value wholly in single or double quotes taken without them (host.env quotes each)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


# ---- the artifact ----------------------------------------------------------------------------
def fetch_artifact(s3: Any, bucket: str, key: str, expected: str, dest: Path, log: Path) -> str:
    """Download the artifact to `dest` and check its SHA-256 (fail closed); returns it."""
    origin = f"s3://{bucket}/{key}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    try:  # one GET, hashed as it is written (download_file ran s3transfer's thread pool)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        with dest.open("wb") as fh:
            for chunk in body.iter_chunks(1 << 20):
                h.update(chunk)
                fh.write(chunk)
    except Exception as exc:
        raise HostBootError(f"install-agent: could not download {origin}: {exc}") from None
    actual, expected = h.hexdigest(), expected.strip().lower()
    if actual != expected:
        dest.unlink(missing_ok=True)
        message = (
            f"install-agent: digest mismatch for {origin}: expected sha256 {expected}, "
            f"actual sha256 {actual}; refusing to install the agent"
        )
        _append(log, message)
        raise DigestMismatch(message)
    _append(log, f"install-agent: sha256 {actual} verified for {origin}")
    return actual


def _append(log: Path, line: str) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(line.rstrip("\n") + "\n")


def default_venv_root() -> Path:
    return pyruntime.default_root().parent / "agent-venvs"


def agent_venv(
    artifact: Path,
    digest: str,
    *,
    install_script: str,
    host_env: Path,
    log: Path,
    root: Path | None = None,
) -> Path:
    """The venv that `install_script` (the host's install-agent.sh) installs the verified
    `artifact` into with Python 3.10, built once per (digest, interpreter); returns its dir."""
    python = pyruntime.find_python(AGENT_PYTHON)
    key = hashlib.sha256(f"{digest}\n{python.resolve()}".encode()).hexdigest()[:16]
    base = root or default_venv_root()
    env_dir = base / f"{digest[:16]}-py{AGENT_PYTHON}-{key}"
    done = env_dir / ".runnerfleet-complete"
    with pyruntime.locked(base / f".{env_dir.name}.lock"):
        if done.is_file():
            _append(log, f"install-agent: sandbox: reusing {env_dir} (artifact {digest[:16]})")
            return env_dir
        shutil.rmtree(env_dir, ignore_errors=True)
        script = base / f".{env_dir.name}.install-agent.sh"
        script.write_text(install_script, encoding="utf-8")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(log.parent),  # the host's own directory, as root's on a host
            "RUNNERFLEET_HOST_ENV": str(host_env),
            "RUNNERFLEET_LOG": str(log),
            "RUNNERFLEET_VENV": str(env_dir),
            "RUNNERFLEET_PYTHON": str(python),
            "AGENT_ARTIFACT": str(artifact),
            "PIP_NO_INDEX": "1",  # the script passes --no-index; no index is reachable either
            "PIP_INDEX_URL": "http://127.0.0.1:9/no-index",
        }
        proc = subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, timeout=900,
            check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            shutil.rmtree(env_dir, ignore_errors=True)
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise HostBootError(
                f"install-agent.sh exited {proc.returncode}: {' | '.join(tail)} "
                f"{proc.stderr.strip()[-500:]}".strip()
            )
        done.write_text(digest + "\n", encoding="utf-8")
    return env_dir


# ---- the runner stand-in ---------------------------------------------------------------------
_STANDIN = """#!/bin/sh
# runnerfleet stand-in for the actions runner's {script} (sandbox host): the supervisor's
# Python and runnerfleet, not the agent's venv (the real runner is not Python either)
PYTHONPATH="{path}" exec "{python}" -m runnerfleet.agent.standin {command} "$@"
"""


def install_standin(runner_dir: Path, jobs_file: Path, clock: float) -> None:
    """Put the runner stand-in where install-runner.sh puts the actions runner, with the
    sandbox's job durations (`.sandbox-jobs`, read by runnerfleet.agent.standin)."""
    import sys

    import runnerfleet

    runner_dir.mkdir(parents=True, exist_ok=True)
    path = str(Path(runnerfleet.__file__).resolve().parents[1])
    for script, command in (("config.sh", "config"), ("run.sh", "run")):
        target = runner_dir / script
        target.write_text(
            _STANDIN.format(script=script, path=path, python=sys.executable, command=command),
            encoding="utf-8",
        )
        target.chmod(0o755)
    (runner_dir / ".sandbox-jobs").write_text(
        json.dumps({"jobs_file": str(jobs_file), "clock": clock}), encoding="utf-8"
    )


# ---- the instance metadata service ----------------------------------------------------------
class _Instance:
    def __init__(self, role_name: str, credentials: Callable[[], Mapping[str, str]]) -> None:
        self.role_name = role_name
        self.token = secrets.token_urlsafe(24)
        self._credentials = credentials
        self._cached: dict[str, str] | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def credentials(self) -> dict[str, str]:
        with self._lock:
            now = time.time()
            if self._cached is None or now >= self._renew_at:
                creds = self._credentials()
                issued = datetime.now(UTC)
                expires = issued + timedelta(seconds=CREDENTIAL_SECONDS)
                self._cached = {
                    "Code": "Success",
                    "LastUpdated": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "Type": "AWS-HMAC",
                    "AccessKeyId": creds["AccessKeyId"],
                    "SecretAccessKey": creds["SecretAccessKey"],
                    "Token": creds["SessionToken"],
                    "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                self._renew_at = now + CREDENTIAL_SECONDS - RENEW_BEFORE_SECONDS
            return dict(self._cached)


class HostImds:
    """One loopback IMDSv2 for all hosts; host `i-x` uses `endpoint("i-x")` as its base."""

    def __init__(self) -> None:
        self._instances: dict[str, _Instance] = {}
        self.requests = 0
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _send(self, status: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> tuple[_Instance | None, str]:
                imds.requests += 1
                parts = self.path.split("?", 1)[0].lstrip("/").split("/", 1)
                inst = imds._instances.get(parts[0])
                return inst, (parts[1] if len(parts) == 2 else "")

            def do_PUT(self) -> None:
                inst, rest = self._route()
                if inst is None:
                    self._send(404)
                elif rest != "latest/api/token":
                    self._send(403)
                elif not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    self._send(400)
                else:
                    self._send(200, inst.token)

            def do_GET(self) -> None:
                inst, rest = self._route()
                if inst is None:
                    self._send(404)
                    return
                if self.headers.get("X-aws-ec2-metadata-token") != inst.token:
                    self._send(401)  # IMDSv2 only, as the launch templates require
                    return
                iid = self.path.lstrip("/").split("/", 1)[0]
                creds = "latest/meta-data/iam/security-credentials/"
                if rest == "latest/meta-data/instance-id":
                    self._send(200, iid)
                elif rest in (creds, creds.rstrip("/")):
                    self._send(200, inst.role_name)
                elif rest == creds + inst.role_name:
                    try:
                        self._send(200, json.dumps(inst.credentials()))
                    except Exception as exc:  # AssumeRole refused: IMDS says so, as EC2's
                        self._send(200, json.dumps({"Code": "AssumeRoleUnauthorizedAccess",
                                                    "Message": str(exc)}))  # fmt: skip
                else:
                    self._send(404)  # no spot notice, no lifecycle state, nothing else

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="host-imds", daemon=True
        )
        self._thread.start()

    def add(
        self, instance_id: str, role_name: str, credentials: Callable[[], Mapping[str, str]]
    ) -> str:
        """Serve `instance_id`; returns its endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT)."""
        self._instances[instance_id] = _Instance(role_name, credentials)
        return f"{self.url}/{instance_id}"

    def credentials(self, instance_id: str) -> dict[str, str]:
        """What the host's SDK gets from iam/security-credentials/<role> (for its downloads)."""
        return self._instances[instance_id].credentials()

    def remove(self, instance_id: str) -> None:
        self._instances.pop(instance_id, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---- the agent process ----------------------------------------------------------------------
def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - not Linux
        return None


_LIBC = _load_libc()  # loaded before any fork: the child only calls into it


def _pdeathsig() -> None:  # runs in the child between fork and exec: no locks, no imports
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


class AgentProcess:
    """The agent (`argv`) in its own process group, started and watched by one thread that
    lives as long as the process (PR_SET_PDEATHSIG follows the thread that forked).
    `on_state(state, detail)` is called for each `state X` line; `on_exit(code, tail)` once."""

    def __init__(
        self,
        argv: list[str],
        env: Mapping[str, str],
        *,
        cwd: Path,
        log_path: Path,
        on_state: Callable[[str, str], None],
        on_exit: Callable[[int, list[str]], None],
    ) -> None:
        self.argv, self.env, self.cwd, self.log_path = argv, dict(env), cwd, log_path
        self._on_state, self._on_exit = on_state, on_exit
        self.proc: subprocess.Popen[str] | None = None
        self.returncode: int | None = None
        self.tail: list[str] = []
        self._started = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, name: str) -> None:
        threading.Thread(target=self._run, name=name, daemon=True).start()
        self._started.wait()
        if self._error is not None:
            raise HostBootError(f"could not start the agent: {self._error}") from self._error

    def _run(self) -> None:
        try:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, errors="replace", start_new_session=True,
                preexec_fn=_pdeathsig if _LIBC is not None else None,
            )  # fmt: skip
        except BaseException as exc:
            self._error = exc
            self._done.set()
            self._started.set()
            return
        self._started.set()
        assert self.proc.stdout is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            for raw in self.proc.stdout:
                line = raw.rstrip("\n")
                log.write(line + "\n")
                log.flush()
                self.tail = [*self.tail[-19:], line]
                m = STATE_LINE.search(line)
                if m:
                    with contextlib.suppress(Exception):
                        self._on_state(m.group(1), m.group(2) or "")
        self.returncode = self.proc.wait()
        self._done.set()
        with contextlib.suppress(Exception):
            self._on_exit(self.returncode, list(self.tail))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signum)

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def stop(self, grace: float) -> None:
        """systemd's stop: SIGTERM to the whole group (the agent drains its runner, which
        goes offline), SIGKILL to what is left after `grace` seconds."""
        self.signal_group(signal.SIGTERM)
        if not self._done.wait(grace):
            self.kill()

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self._done.wait(1.0)
