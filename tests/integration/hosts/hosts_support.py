"""Helpers for the host-bootstrap integration tests (imported by the tests; fixtures live in
conftest.py): tagged runner instances, a loopback IMDSv2, a fault-injecting proxy, and `Host`
(the real agent in a thread with its IMDS and files)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from runnerfleet.agent import standin
from runnerfleet.agent.agent import Agent
from runnerfleet.agent.decisions import Backoff, State
from runnerfleet.agent.imds import ImdsClient
from runnerfleet.agent.launcher import SubprocessLauncher
from runnerfleet.agent.settings import AgentSettings

OWNER = "acme"
REPO = "app"


_GROUPS = itertools.count(1)


def make_asg(
    aws: Callable[[str], Any], fleet: str, *, min_size: int, desired: int
) -> tuple[str, str]:
    """A group of the fleet with `desired` instances; returns (group name, one instance id),
    the instance tagged as the runner-fleet module tags pool hosts."""
    ec2, autoscaling = aws("ec2"), aws("autoscaling")
    name = f"{fleet}-pool{next(_GROUPS)}"
    ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.medium"},
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
        MinSize=min_size,
        MaxSize=5,
        DesiredCapacity=desired,
        AvailabilityZones=["us-east-1a"],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    ids = [i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]]
    for n, iid in enumerate(sorted(ids), start=1):
        ec2.create_tags(
            Resources=[iid],
            Tags=[
                {"Key": "runnerfleet:fleet", "Value": fleet},
                {"Key": "runnerfleet:role", "Value": "runner"},
                {"Key": "runnerfleet:pool", "Value": name.rsplit("-", 1)[-1]},
                {"Key": "runnerfleet:runner-name", "Value": f"{fleet}-runner-{n:02d}"},
                {"Key": "aws:autoscaling:groupName", "Value": name},
            ],
        )
    return name, sorted(ids)[0]


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


class Host:
    """One host: an agent running in a thread, its IMDS, and its files."""

    def __init__(
        self,
        aws: Callable[[str], Any],
        hostdir: Path,
        fleet: str,
        instance_id: str,
        *,
        ephemeral: bool = False,
        registration_timeout: float = 30.0,
        autoscaling: Any = None,
    ) -> None:
        self.instance_id = instance_id
        self.dir = hostdir / instance_id
        self.runner_dir = self.dir / "actions-runner"
        standin.install(self.runner_dir)
        self.imds = FakeImds(instance_id)
        self.settings = AgentSettings(
            name=fleet,
            region="us-east-1",
            registration_parameter_prefix=f"/{fleet}/runners",
            runner_dir=self.runner_dir,
            ephemeral=ephemeral,
            runner_user=None,
            status_dir=self.dir / "status",
            state_file=self.dir / "agent-state.json",
            poll_interval=0.1,
            registration_timeout=registration_timeout,
            online_grace=60.0,
            drain_grace=10.0,
            config_timeout=30.0,
            start_backoff=Backoff(base=0.1, cap=0.5, attempts=5),
            wait_backoff=Backoff(base=0.1, cap=0.3, attempts=0),
        )
        self.aws = aws
        self.autoscaling = autoscaling
        self.agent: Agent | None = None
        self.final: State | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()

    def start(self) -> Host:
        self.agent = Agent(
            settings=self.settings,
            ssm=self.aws("ssm"),
            ec2=self.aws("ec2"),
            autoscaling=self.autoscaling or self.aws("autoscaling"),
            imds=ImdsClient(self.imds.url),
            launcher=SubprocessLauncher(self.runner_dir),
        )
        self._done.clear()

        def run() -> None:
            assert self.agent is not None
            try:
                self.final = self.agent.run()
            except BaseException as exc:
                self.error = exc
            finally:
                self._done.set()

        threading.Thread(target=run, daemon=True).start()
        return self

    def wait_for(self, state: State, timeout: float = 120.0, times: int = 1) -> None:
        """Wait (on the reporter's condition, generous bound for a loaded machine) until the
        agent has reported `state` completely: status file written and instance tagged."""
        assert self.agent is not None
        if self.agent.health.wait_completed(state, timeout, times):
            return
        if self._done.is_set():
            raise AssertionError(f"agent ended in {self.final} ({self.error}) before {state}")
        raise AssertionError(f"no {state} within {timeout} s: {self.agent.health.history}")

    def wait_done(self, timeout: float = 90.0) -> State | None:
        assert self._done.wait(timeout), "agent did not finish"
        if self.error is not None:
            raise self.error
        return self.final

    def stop(self) -> None:
        if self.agent is not None and not self._done.is_set():
            self.agent.stop_event.set()
            self._done.wait(15)
        self.imds.close()

    def status(self) -> dict[str, Any]:
        return dict(json.loads((self.dir / "status" / "status.json").read_text()))
