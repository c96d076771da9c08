"""The embedded sandbox: an AWS emulator (moto server) and a GitHub emulator on 127.0.0.1.

`runnerfleet up` with no AWS account (or with --sandbox) starts both as background processes,
plus the sandbox runtime (runnerfleet.sandboxrt.supervisor: the deployed functions, their
triggers and the simulated hosts, with the webhook function's URL on the port the GitHub
emulator delivers to), records them in `<project>/.runnerfleet/sandbox.json` so later
commands (`status`, `jobs`, `down`, `state ...`) find the same processes, and wires Terraform
and boto3 to them through endpoint overrides and the sandbox admin's dummy credentials.
Nothing in the sandbox reaches the internet.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3

SANDBOX_ACCOUNT_ID = "123456789012"
SANDBOX_ACCESS_KEY = "testing"  # moto accepts any credentials; these are not secrets
SANDBOX_STATE = "sandbox.json"
WEBHOOK_SECRET_ENV = "GITHUB_WEBHOOK_SECRET"  # noqa: S105 - a variable name, not a secret
LOOPBACK = "127.0.0.1"

# Provider `endpoints` keys the stack needs (hashicorp/aws 5.100 and 6.x both accept these).
PROVIDER_ENDPOINTS = (
    "autoscaling", "cloudwatch", "dynamodb", "ec2", "ecr", "events", "iam", "kms", "lambda",
    "logs", "s3", "secretsmanager", "sns", "sqs", "ssm", "sts",
)  # fmt: skip


class SandboxError(Exception):
    """The sandbox could not start or is in a bad state."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


def _terminate(pid: int | None) -> bool:
    """SIGTERM a service's process group (SIGKILL after 5 s); False when it was not running."""
    if not pid or not _pid_alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not _pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    return True


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((LOOPBACK, port)) == 0


@dataclass
class Service:
    """One emulator process."""

    pid: int = 0
    port: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def alive(self) -> bool:
        return _pid_alive(self.pid) and _port_open(self.port)


@dataclass
class SandboxState:
    aws: Service = field(default_factory=Service)
    github: Service = field(default_factory=Service)
    runtime: Service = field(default_factory=Service)
    region: str = "us-east-1"


class Sandbox:
    """Emulator lifecycle for one project folder (`home` is its `.runnerfleet/`)."""

    def __init__(self, home: Path, region: str = "us-east-1", config_path: Path | None = None):
        self.home = home
        self.region = region
        self.config_path = config_path
        self.state = self._load()

    # ---- persistence ---------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.home / SANDBOX_STATE

    def _load(self) -> SandboxState:
        if not self.state_file.exists():
            return SandboxState(region=self.region)
        try:
            raw = json.loads(self.state_file.read_text(encoding="utf-8"))
            return SandboxState(
                aws=Service(**raw.get("aws", {})),
                github=Service(**raw.get("github", {})),
                runtime=Service(**raw.get("runtime", {})),
                region=raw.get("region", self.region),
            )
        except (ValueError, TypeError) as exc:
            raise SandboxError(
                f"{self.state_file} is unreadable ({exc}); run `runnerfleet down` or delete it"
            ) from exc

    def _save(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self.state), indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.state_file)

    # ---- lifecycle -----------------------------------------------------------------------
    def running(self) -> bool:
        return self.state.aws.alive()

    def start(self, *, with_github: bool = True) -> None:
        """Start the emulators that are not already running (idempotent)."""
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.state.aws.alive():
            self.state.aws = self._start_moto()
            self.state.region = self.region
            self._save()
        if not with_github:
            return
        if not self.state.github.alive():
            # The function URL's port is chosen first so the emulator can deliver webhooks.
            url_port = free_port()
            self.state.github = self._start_github(webhook_port=url_port)
            self._save()
            self.state.runtime = self._start_runtime(url_port)
            self._save()
        elif not self.state.runtime.alive():
            self.state.runtime = self._start_runtime(self.state.runtime.port or free_port())
            self._save()

    def _spawn(
        self, args: list[str], log_name: str, env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        log = open(self.home / log_name, "ab")  # noqa: SIM115 - handed to the child
        try:
            return subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.home,
                start_new_session=True,  # outlives this CLI invocation
            )
        finally:
            log.close()

    def _wait_port(self, proc: subprocess.Popen[bytes], port: int, what: str, log: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.home / log).read_text(errors="replace")[-2000:]
                raise SandboxError(
                    f"{what} exited during start-up (code {proc.returncode}):\n{tail}"
                )
            if _port_open(port):
                return
            time.sleep(0.1)
        proc.kill()
        raise SandboxError(f"{what} did not listen on {LOOPBACK}:{port} within 60 s")

    def _start_moto(self) -> Service:
        port = free_port()
        env = dict(os.environ)
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"  # DESIGN.md §5: managed policies
        env.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")
        # moto server behind the strict layer, IAM enforced (runnerfleet.strictaws; the dummy
        # key is the admin's). RUNNERFLEET_SANDBOX_IAM=off / _LAMBDA_CONCURRENCY pass through.
        proc = self._spawn(
            [sys.executable, "-m", "runnerfleet.strictaws", "-H", LOOPBACK, "-p", str(port)],
            "moto.log",
            env,
        )
        self._wait_port(proc, port, "the AWS emulator (moto)", "moto.log")
        return Service(pid=proc.pid, port=port)

    def webhook_secret(self) -> str:
        """A random per-sandbox webhook secret shared by the two emulated ends (0600 file)."""
        path = self.home / "webhook-secret"
        if not path.exists():
            path.write_text(secrets.token_hex(20))
            path.chmod(0o600)
        return path.read_text().strip()

    def _start_github(self, webhook_port: int) -> Service:
        port = free_port()
        state_file = self.home / "github-emulator.json"
        state_file.unlink(missing_ok=True)
        env = dict(os.environ)
        env[WEBHOOK_SECRET_ENV] = self.webhook_secret()
        proc = self._spawn(
            [sys.executable, "-m", "runnerfleet.cli", "github-emulator", "--port", str(port),
             "--state-file", str(state_file),
             "--webhook-url", f"http://{LOOPBACK}:{webhook_port}/webhook",
             "--webhook-secret-env", WEBHOOK_SECRET_ENV],
            "github-emulator.log",
            env,
        )  # fmt: skip
        self._wait_port(proc, port, "the GitHub emulator", "github-emulator.log")
        deadline = time.monotonic() + 10
        while not state_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        extra: dict[str, Any] = {"state_file": str(state_file)}
        return Service(pid=proc.pid, port=port, extra=extra)

    def _start_runtime(self, url_port: int) -> Service:
        """The runtime supervisor (runnerfleet.sandboxrt.supervisor): the stack's functions,
        their triggers (the webhook function's URL on `url_port`) and the simulated hosts."""
        control_port = free_port()
        args = [sys.executable, "-m", "runnerfleet.sandboxrt.supervisor", "--home",
                str(self.home.resolve()), "--url-port", str(url_port), "--control-port",
                str(control_port)]  # fmt: skip
        proc = self._spawn(args, "control-plane.log", dict(os.environ))
        self._wait_port(proc, control_port, "the sandbox runtime", "control-plane.log")
        return Service(pid=proc.pid, port=url_port, extra={"control_port": control_port})

    # ---- the runtime's control surface ---------------------------------------------------
    def runtime_call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        """Call the runtime supervisor's control port (`/reload`, `/status`, `/faults`)."""
        import httpx

        port = self.state.runtime.extra.get("control_port")
        if not port or not self.state.runtime.alive():
            raise SandboxError("the sandbox runtime is not running; run `runnerfleet up`")
        resp = httpx.request(method, f"http://{LOOPBACK}:{port}{path}", json=body, timeout=timeout)
        if resp.status_code >= 400:
            raise SandboxError(f"sandbox runtime {method} {path}: {resp.text}")
        return resp.json()

    def runtime_status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.runtime_call("GET", "/status")
        return status

    def set_delivery_faults(self, drop: float = 0.0, duplicate: float = 0.0, seed: int = 0) -> None:
        """Lose / repeat a fraction of the webhook deliveries to the function URL."""
        self.runtime_call("POST", "/faults", {"drop": drop, "duplicate": duplicate, "seed": seed})

    def github_info(self) -> dict[str, Any]:
        """What the GitHub emulator wrote about itself (URL, app id, key path, PAT)."""
        path = self.state.github.extra.get("state_file")
        if not path or not Path(path).exists():
            raise SandboxError("the GitHub emulator is not running; run `runnerfleet up`")
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return data

    def stop(self) -> list[str]:
        """Stop the simulated runners and the services; returns what was stopped."""
        stopped = []
        hosts = self.home / "hosts"
        if hosts.is_dir():
            from runnerfleet.agent.simulate import stop_detached

            if stop_detached(hosts):
                stopped.append("simulated-runners")
        services = (
            ("runtime", self.state.runtime),
            ("github", self.state.github),
            ("aws", self.state.aws),
        )
        for label, svc in services:
            if _terminate(svc.pid):
                stopped.append(label)
        self.state = SandboxState(region=self.region)
        self.state_file.unlink(missing_ok=True)
        return stopped

    def stop_runtime(self) -> bool:
        """Stop the runtime (functions, triggers, simulated hosts) and keep the emulators:
        `down` does this before it destroys, so that no function scales a group or boots a
        host while Terraform takes the fleet apart. The next `up` starts it again."""
        return _terminate(self.state.runtime.pid)

    # ---- wiring --------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if not self.state.aws.port:
            raise SandboxError("the AWS emulator is not running; run `runnerfleet up`")
        return self.state.aws.url

    def aws_env(self) -> dict[str, str]:
        """Environment for boto3 and terraform processes that talk to the emulator."""
        return {
            "AWS_ACCESS_KEY_ID": SANDBOX_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SANDBOX_ACCESS_KEY,
            "AWS_SESSION_TOKEN": "",
            "AWS_DEFAULT_REGION": self.state.region,
            "AWS_REGION": self.state.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_PROFILE": "",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def boto3_session(self) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=SANDBOX_ACCESS_KEY,
            aws_secret_access_key=SANDBOX_ACCESS_KEY,
            region_name=self.state.region,
        )

    def client(self, service: str) -> Any:
        return self.boto3_session().client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def provider_override(self) -> str:
        """Terraform override file for the root stack: the provider pointed at this emulator."""
        return provider_override(self.endpoint, self.state.region)

    def backend_settings(self) -> dict[str, Any]:
        """Extra S3-backend settings for the emulator."""
        return {
            "endpoints": {"s3": self.endpoint, "dynamodb": self.endpoint, "sts": self.endpoint,
                          "iam": self.endpoint},
            "use_path_style": True,
            "skip_credentials_validation": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
            "skip_requesting_account_id": True,
            "access_key": SANDBOX_ACCESS_KEY,
            "secret_key": SANDBOX_ACCESS_KEY,
        }  # fmt: skip

    def default_ami(self) -> str:
        """An x86_64 image that the emulator knows (it has no Ubuntu 22.04 of its own)."""
        ec2 = self.client("ec2")
        images = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["x86_64"]}])[
            "Images"
        ]
        ubuntu = [i for i in images if "ubuntu" in (i.get("Name") or "").lower()]
        pick = (ubuntu or images or [None])[0]
        if pick is None:
            raise SandboxError("the AWS emulator offers no x86_64 image")
        image_id: str = pick["ImageId"]
        return image_id


def provider_override(endpoint: str, region: str) -> str:
    """Terraform override file for the root stack: the aws provider pointed at `endpoint`."""
    eps = "\n".join(f"    {svc:<14} = {json.dumps(endpoint)}" for svc in PROVIDER_ENDPOINTS)
    return (
        "# Written by runnerfleet for the sandbox: points the provider at the local AWS\n"
        "# emulator. Production stacks never contain this file.\n"
        'provider "aws" {\n'
        f"  region                      = {json.dumps(region)}\n"
        f'  access_key                  = "{SANDBOX_ACCESS_KEY}"\n'
        f'  secret_key                  = "{SANDBOX_ACCESS_KEY}"\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_region_validation      = true\n"
        "  s3_use_path_style           = true\n"
        "  endpoints {\n"
        f"{eps}\n"
        "  }\n"
        "  default_tags {\n"
        "    tags = merge(var.tags, {\n"
        '      "runnerfleet:fleet" = var.name\n'
        "    })\n"
        "  }\n"
        "  ignore_tags {\n"
        '    keys         = ["runnerfleet:github-runner-id"]\n'
        '    key_prefixes = ["runnerfleet:agent-"]\n'
        "  }\n"
        "}\n"
    )
