"""Fixtures for host-bootstrap integration tests: a moto server on loopback (shared, reset per
test), a GitHub emulator per test, tagged runner instances, and the registrar wired to both."""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from runnerfleet.controlplane.claims import MemoryClaims
from runnerfleet.controlplane.registrar import Registrar, RegistrarSettings
from runnerfleet.github.client import GitHubClient, TokenAuth
from runnerfleet.github.emulator import GitHubEmulator

REGION = "us-east-1"
OWNER = "acme"
REPO = "app"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server for the session. Its EC2 backend is built once, without moto's default
    images (13 s -> 4 s); tests keep apart by using their own fleet name, not by resets."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    saved = os.environ.get("MOTO_EC2_LOAD_DEFAULT_AMIS")
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    try:
        _session().client("ec2", endpoint_url=url).describe_vpcs()
    finally:
        if saved is None:
            os.environ.pop("MOTO_EC2_LOAD_DEFAULT_AMIS", None)
        else:
            os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = saved
    yield url
    server.stop()


@pytest.fixture(scope="session")
def aws(moto_url: str) -> Callable[[str], Any]:
    """Clients for the shared moto server, made once per service (client creation is slow)."""
    session = _session()
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, endpoint_url=moto_url)  # type: ignore[call-overload]
        return made[service]

    return client


_FLEETS = itertools.count(1)


@pytest.fixture
def fleet() -> str:
    """A fleet name of this test's own (the moto server is shared)."""
    return f"rf{next(_FLEETS)}x"


@pytest.fixture
def emulator() -> Iterator[GitHubEmulator]:
    emu = GitHubEmulator()
    emu.start()
    emu.add_installation(OWNER)
    yield emu
    emu.stop()


def launch_runners(ec2: Any, name: str, count: int, *, pool: str = "static") -> list[str]:
    """`count` instances tagged like the runner-fleet module tags static runners."""
    ids = []
    for i in range(1, count + 1):
        runner_name = f"{name}-runner-{i:02d}"
        resp = ec2.run_instances(
            ImageId="ami-0123456789abcdef0",
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.medium",
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "Name", "Value": runner_name},
                        {"Key": "runnerfleet:fleet", "Value": name},
                        {"Key": "runnerfleet:role", "Value": "runner"},
                        {"Key": "runnerfleet:pool", "Value": pool},
                        {"Key": "runnerfleet:runner-name", "Value": runner_name},
                    ],
                }
            ],
        )
        ids.append(resp["Instances"][0]["InstanceId"])
    return ids


@pytest.fixture
def make_registrar(aws: Callable[[str], Any], emulator: GitHubEmulator) -> Callable[..., Registrar]:
    def make(name: str = "rf", *, ephemeral: bool = False, **kw: Any) -> Registrar:
        settings = RegistrarSettings(
            name=name,
            owner=OWNER,
            repository=REPO,
            github_url=emulator.url,
            api_url=emulator.url,
            ephemeral=ephemeral,
            **kw,
        )
        github = GitHubClient(emulator.url, TokenAuth(emulator.pat), sleep=lambda _s: None)
        return Registrar(
            settings=settings,
            ec2=aws("ec2"),
            ssm=aws("ssm"),
            github=github,
            claims=MemoryClaims(),
            autoscaling=aws("autoscaling"),
        )

    return make


@pytest.fixture
def agent_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="runnerfleet")
    return caplog


@pytest.fixture
def hostdir(tmp_path: Path) -> Path:
    return tmp_path / "hosts"


class FakeImds:
    """A loopback IMDSv2: PUT /latest/api/token, then GETs with the token (401 without).
    `spot` and `lifecycle` can be changed while the agent runs."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.spot: str | None = None
        self.lifecycle: str | None = None
        self.token = "imds-session-token"
        self.unauthorized = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _send(self, status: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                if self.path != "/latest/api/token" or not self.headers.get(
                    "X-aws-ec2-metadata-token-ttl-seconds"
                ):
                    self._send(400)
                    return
                self._send(200, fake.token)

            def do_GET(self) -> None:
                if self.headers.get("X-aws-ec2-metadata-token") != fake.token:
                    fake.unauthorized += 1
                    self._send(401)
                    return
                values = {
                    "/latest/meta-data/instance-id": fake.instance_id,
                    "/latest/meta-data/spot/instance-action": (
                        json.dumps({"action": fake.spot, "time": "2026-01-01T00:02:00Z"})
                        if fake.spot
                        else None
                    ),
                    "/latest/meta-data/autoscaling/target-lifecycle-state": fake.lifecycle,
                }
                value = values.get(self.path)
                if value is None:
                    self._send(404)
                else:
                    self._send(200, value)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FaultProxy:
    """A loopback HTTP proxy in front of the GitHub emulator that answers 502 to the first
    `failures` requests whose path starts with `fail_prefix` (the emulator's own fault
    injection covers the REST API, not the runner protocol)."""

    def __init__(self, upstream: str, fail_prefix: str, failures: int) -> None:
        self.upstream = upstream
        self.remaining = failures
        self.failed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith(fail_prefix) and proxy.remaining > 0:
                    proxy.remaining -= 1
                    proxy.failed += 1
                    data = b'{"message": "Bad Gateway"}'
                    self.send_response(502)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                resp = httpx.request(
                    self.command, proxy.upstream + self.path, content=body, headers=headers
                )
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_POST = do_DELETE = do_PUT = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
