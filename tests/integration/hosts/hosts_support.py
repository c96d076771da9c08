"""Helpers for the host-bootstrap integration tests (imported by the tests; fixtures live in
conftest.py): tagged runner instances, a loopback IMDSv2, and a fault-injecting proxy."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

OWNER = "acme"
REPO = "app"


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
