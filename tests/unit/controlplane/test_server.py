"""`runnerfleet serve`'s server with the GitHub emulator delivering real signed webhooks, and
the CLI module (registered on a Typer app built here, as cli.py would)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from runnerfleet.commands import controlplane_serve
from runnerfleet.controlplane.fleet import GroupInfo, HostInfo, Outcome
from runnerfleet.controlplane.job_table import MemoryJobTable, jobs_of
from runnerfleet.controlplane.scaler import Pool, ScalerAction, SetDesiredCapacity
from runnerfleet.controlplane.server import ControlPlaneServer
from runnerfleet.controlplane.webhook_handler import WebhookProcessor
from runnerfleet.github.emulator import GitHubEmulator

SECRET = "emulator-webhook-secret-7f"


@dataclass
class RecordingFleet:
    """A FleetPort that records the actions it was asked to perform."""

    name: str = "rf"
    performed: list[ScalerAction] = field(default_factory=list)

    def groups(self) -> dict[str, GroupInfo]:
        return {"default": GroupInfo("rf-default", "default", 0, 5, 0)}

    def hosts(self, groups: dict[str, GroupInfo] | None = None) -> list[HostInfo]:
        return []

    def execute(
        self, actions: Sequence[ScalerAction], groups: dict[str, GroupInfo], now: float
    ) -> list[Outcome]:
        self.performed += actions
        return [Outcome(a, True, "recorded") for a in actions]

    def replace(self, instance_id: str, *, decrement: bool) -> str | None:
        return None


@pytest.fixture
def served() -> Iterator[tuple[ControlPlaneServer, RecordingFleet]]:
    fleet = RecordingFleet()
    proc = WebhookProcessor(
        SECRET,
        MemoryJobTable(),
        [Pool("default", frozenset({"linux", "x64"}), 0, 5)],
        fleet,
    )
    with ControlPlaneServer(proc) as server:
        yield server, fleet


def test_emulator_webhook_is_recorded_and_scaled(
    served: tuple[ControlPlaneServer, RecordingFleet],
) -> None:
    server, fleet = served
    with GitHubEmulator(webhook_url=f"{server.url}/webhook", webhook_secret=SECRET) as gh:
        gh.add_installation("acme")
        job_id = gh.enqueue_job("acme", "app", ["self-hosted", "linux"])
        hosted = gh.enqueue_job("acme", "app", ["ubuntu-latest"])
        gh.flush_webhooks()
        statuses = {d.job_id: d.status for d in gh.deliveries.values()}
        (delivery_id,) = [d.id for d in gh.deliveries.values() if d.job_id == job_id]
        gh.redeliver(delivery_id)  # same delivery id: deduplicated
        gh.flush_webhooks()
    assert statuses == {job_id: 200, hosted: 202}
    (job,) = jobs_of(server.processor.jobs.scan(time.time())[0])
    assert (job.id, job.status, job.repository) == (job_id, "queued", "acme/app")
    assert fleet.performed == [SetDesiredCapacity("default", 1)]


def test_health_routes_and_bad_requests(
    served: tuple[ControlPlaneServer, RecordingFleet],
) -> None:
    server, fleet = served
    with httpx.Client(base_url=server.url, timeout=5) as http:
        assert http.get("/healthz").json() == {"ok": True}
        assert http.get("/nope").status_code == 404
        assert http.post("/other", content=b"{}").status_code == 404
        bad = http.post(
            "/webhook",
            content=b"{}",
            headers={"X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": "sha256=00"},
        )
        assert bad.status_code == 401 and "webhook secret" in bad.json()["error"]
    assert fleet.performed == []


def test_refuses_non_loopback_address() -> None:
    proc = WebhookProcessor(SECRET, MemoryJobTable(), [])
    with pytest.raises(ValueError, match="loopback"):
        ControlPlaneServer(proc, host="0.0.0.0")


# ---- CLI module --------------------------------------------------------------------------
def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    controlplane_serve.register(app)
    return app


def test_cli_commands_are_registered_with_help() -> None:
    runner = CliRunner()
    for cmd in ("serve", "reconcile"):
        out = runner.invoke(_app(), [cmd, "--help"])
        assert out.exit_code == 0, out.output
    assert "--port" in runner.invoke(_app(), ["serve", "--help"]).output
    assert "--json" in runner.invoke(_app(), ["reconcile", "--help"]).output


def test_cli_serve_rejects_bad_input(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET", raising=False)
    runner = CliRunner()
    out = runner.invoke(_app(), ["serve", "--port", "70000"])
    assert out.exit_code == 2 and "--port" in out.output
    out = runner.invoke(_app(), ["serve", "--host", "0.0.0.0", "--sandbox"])
    assert out.exit_code == 2 and "loopback" in out.output
    (tmp_path / "runnerfleet.toml").write_text('name = "Bad Name"\n')
    out = runner.invoke(_app(), ["reconcile", "--json"])
    assert out.exit_code == 2 and "name" in out.output


def test_cli_reconcile_json_shape() -> None:
    payload = controlplane_serve.plan_json(
        [SetDesiredCapacity("default", 2, "1 queued")], [], ["static host i-1 has no runner"]
    )
    data = json.loads(json.dumps(payload))
    assert data["ok"] is True
    assert data["actions"][0] == {
        "action": "SetDesiredCapacity",
        "pool": "default",
        "desired": 2,
        "reason": "1 queued",
        "ok": None,
        "detail": "",
    }
    assert data["findings"] == ["static host i-1 has no runner"]


def test_cli_reconcile_runs_a_pass_and_exits_1_on_failure(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runnerfleet.controlplane import local
    from runnerfleet.controlplane.reconciler import DeleteRunner, Plan

    monkeypatch.chdir(tmp_path)
    failed = [False]

    class StubReconciler:
        def run(self, *, dry_run: bool = False) -> tuple[Plan, list[Outcome]]:
            action = DeleteRunner(7, "rf-runner-x", "offline and its host is gone")
            plan = Plan([action], ["job 5 matches no pool"])
            if dry_run:
                return plan, []
            return plan, [Outcome(action, not failed[0], "token=ghp_" + "x" * 36)]

    class StubTarget:
        label = "stub"

    class StubPlane:
        reconciler = StubReconciler()

    monkeypatch.setattr(local, "plane_for", lambda cfg, target: StubPlane())
    monkeypatch.setattr("runnerfleet.target.resolve_target", lambda *a, **k: StubTarget())
    runner = CliRunner()
    out = runner.invoke(_app(), ["reconcile", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["actions"][0]["runner_name"] == "rf-runner-x" and doc["actions"][0]["ok"]
    assert "ghp_" not in out.output  # details are redacted
    dry = json.loads(runner.invoke(_app(), ["reconcile", "--json", "--dry-run"]).output)
    assert dry["actions"][0]["ok"] is None
    failed[0] = True
    out = runner.invoke(_app(), ["reconcile"])
    assert out.exit_code == 1 and "FAILED" in out.output and "matches no pool" in out.output


# ---- local wiring on moto + the emulator: webhook -> DynamoDB table -> ASG -> reconcile ---
def test_local_wiring_end_to_end_on_moto() -> None:
    import boto3
    from moto import mock_aws

    from runnerfleet import config
    from runnerfleet.controlplane import local
    from runnerfleet.controlplane.job_table import DynamoJobTable, create_table
    from runnerfleet.github.client import GitHubClient, TokenAuth

    cfg = config.validate(
        {
            "name": "rfx",
            "github": {"owner": "acme"},
            "runners": {"mode": "autoscaled", "pools": [{"name": "default", "max_size": 3}]},
        }
    )

    class Target:
        sandbox = None
        label = "moto"
        clients: dict[str, Any] = {}

        def client(self, service: str) -> Any:
            if service not in self.clients:
                # boto3-stubs types client() per literal service name; this one is a variable
                self.clients[service] = boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]
            return self.clients[service]

    with mock_aws():
        target = Target()
        assert local.webhook_secret(cfg, target, {}, "UNSET_VAR") is None
        target.client("ssm").put_parameter(
            Name="/rfx/github/webhook-secret", Value=SECRET, Type="SecureString"
        )
        assert local.webhook_secret(cfg, target, {}, "UNSET_VAR") == SECRET
        assert local.webhook_secret(cfg, target, {"V": "from-env"}, "V") == "from-env"
        # without the table the stores are per process; with it, DynamoDB
        assert not isinstance(local.plane_for(cfg, target).jobs, DynamoJobTable)
        create_table(target.client("dynamodb"), "rfx-control-plane")
        ec2, asg = target.client("ec2"), target.client("autoscaling")
        lt = ec2.create_launch_template(
            LaunchTemplateName="rf-runner", LaunchTemplateData={"ImageId": "ami-12c6146b"}
        )["LaunchTemplate"]
        tags = {
            "runnerfleet:fleet": "rfx",
            "runnerfleet:role": "runner",
            "runnerfleet:pool": "default",
        }
        asg.create_auto_scaling_group(
            AutoScalingGroupName="rfx-default", MinSize=0, MaxSize=3, DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
            AvailabilityZones=["us-east-1a"],
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in tags.items()],
        )  # fmt: skip
        plane = local.plane_for(cfg, target, webhook_secret=SECRET)
        processor = plane.processor
        assert isinstance(processor.jobs, DynamoJobTable)
        with (
            ControlPlaneServer(processor) as server,
            GitHubEmulator(webhook_url=f"{server.url}/webhook", webhook_secret=SECRET) as gh,
        ):
            gh.add_installation("acme")
            job_id = gh.enqueue_job("acme", "app", ["self-hosted", "linux", "x64"])
            gh.flush_webhooks()
            assert [d.status for d in gh.deliveries.values()] == [200]
            group = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]
            assert group["DesiredCapacity"] == 1
            assert [j.id for j in jobs_of(processor.jobs.scan(time.time())[0])] == [job_id]
            github = GitHubClient(gh.url, TokenAuth(gh.pat))
            plane.github_client = github
            rec = plane.reconciler
            plan, outcomes = rec.run(dry_run=True)
            # the new host is booting, the job is fresh, GitHub has no runner: no drift
            assert (plan.actions, plan.findings, outcomes) == ([], [], [])
            github.close()


# ---- `serve` as a real process: config -> target endpoints (moto server) -> webhooks -------
SERVE_SCRIPT = """
import sys, typer
from runnerfleet.commands import controlplane_serve
app = typer.Typer()
@app.callback()
def _root() -> None:
    pass
controlplane_serve.register(app)
app(sys.argv[1:])
"""


def test_serve_process_receives_emulator_webhooks(tmp_path: Any) -> None:
    import os
    import select
    import signal
    import subprocess
    import sys

    import boto3
    from moto.server import ThreadedMotoServer

    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    proc = None
    try:
        mhost, mport = moto_server.get_host_and_port()
        endpoint = f"http://{mhost}:{mport}"
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

        def client(service: str) -> Any:
            # boto3-stubs types client() per literal service name; this one is a variable
            return boto3.client(  # type: ignore[call-overload]
                service, region_name="us-east-1", endpoint_url=endpoint, **creds
            )

        ec2, asg = client("ec2"), client("autoscaling")
        lt = ec2.create_launch_template(
            LaunchTemplateName="rfs-runner", LaunchTemplateData={"ImageId": "ami-12c6146b"}
        )["LaunchTemplate"]
        tags = {
            "runnerfleet:fleet": "rfs",
            "runnerfleet:role": "runner",
            "runnerfleet:pool": "default",
        }
        asg.create_auto_scaling_group(
            AutoScalingGroupName="rfs-default", MinSize=0, MaxSize=3, DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
            AvailabilityZones=["us-east-1a"],
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in tags.items()],
        )  # fmt: skip
        services = ["autoscaling", "ec2", "dynamodb", "ssm", "cloudwatch", "sts"]
        endpoints = "\n".join(f'{s} = "{endpoint}"' for s in services)
        (tmp_path / "runnerfleet.toml").write_text(
            'name = "rfs"\n[github]\nowner = "acme"\n[runners]\nmode = "autoscaled"\n'
            '[[runners.pools]]\nname = "default"\nmax_size = 3\n'
            f"[aws.endpoints]\n{endpoints}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNNERFLEET_"))}
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_CONFIG_FILE=str(tmp_path / "none"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
            GITHUB_WEBHOOK_SECRET=SECRET,
        )
        args = ["serve", "--aws", "--port", "0", "--json", "--reconcile-every", "0"]
        # stderr goes to a file: a pipe nobody reads while the server runs fills at 64 KiB
        # and then blocks the server in its next log write, so it could not exit on SIGINT.
        errlog = (tmp_path / "serve.stderr").open("w+")
        # Started with SIGINT ignored, as a script's background job (`runnerfleet serve &`)
        # or a worker process that ignores it hands it on (SIG_IGN is inherited): Ctrl-C
        # must stop it all the same (serve installs its own handlers).
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE_SCRIPT, *args],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=errlog, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )  # fmt: skip
        assert proc.stdout is not None

        def stderr() -> str:
            errlog.seek(0)
            text: str = errlog.read()
            return text

        # the URL document is printed and flushed at once: wait for it, then read it whole
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready and proc.poll() is None, stderr() if proc.poll() else "timeout"
        lines = [proc.stdout.readline()]
        while lines[-1] and lines[-1].rstrip() != "}":
            lines.append(proc.stdout.readline())
        info = json.loads("".join(lines))
        assert info["url"].startswith("http://127.0.0.1:")
        with GitHubEmulator(webhook_url=info["webhook"], webhook_secret=SECRET) as gh:
            gh.add_installation("acme")
            gh.enqueue_job("acme", "app", ["self-hosted", "linux"])
            gh.flush_webhooks()
            assert [d.status for d in gh.deliveries.values()] == [200]
        group = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]
        assert group["DesiredCapacity"] == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, stderr()
        assert SECRET not in stderr()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        moto_server.stop()


# ---- issue 14.8: socket timeouts, bounded connections, malformed headers -----------------
def _raw(url: str, data: bytes, wait: float = 10.0) -> bytes:
    """Send raw bytes and read until the server closes the connection (or `wait` passes)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(4096):
            out += chunk
        return out


def _quiet_server(**kw: Any) -> ControlPlaneServer:
    return ControlPlaneServer(WebhookProcessor(SECRET, MemoryJobTable(), []), **kw)


def test_non_ascii_or_bogus_content_length_gets_400_and_the_server_lives() -> None:
    with _quiet_server(request_timeout=1.0) as server:
        for value in ("\u00b2".encode("latin-1"), b"12abc", b"-1", b"9" * 30):
            reply = _raw(
                server.url,
                b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\n",
            )
            assert reply.startswith(b"HTTP/1.1 400"), (value, reply[:80])
            assert b"ASCII digits" in reply
        short = _raw(
            server.url, b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n"
        )  # then nothing: the server drops the stalled request at its socket timeout
        assert short == b""
        ok = _raw(server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200")


def test_half_open_connections_time_out_and_connections_are_bounded() -> None:
    import socket
    from urllib.parse import urlsplit

    with _quiet_server(request_timeout=0.5, max_connections=2) as server:
        parts = urlsplit(server.url)
        held = [socket.create_connection((parts.hostname, parts.port)) for _ in range(2)]
        try:
            held[0].sendall(b"POST /webhook HTTP/1.1\r\n")  # half a request, then silence
            # a third connection is refused with 503 while two are held
            third = _raw(server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert third.startswith(b"HTTP/1.1 503"), third[:80]
            # the held ones are closed by the server's socket timeout (recv sees EOF)
            for sock in held:
                sock.settimeout(10)
                assert sock.recv(4096) == b""
        finally:
            for sock in held:
                sock.close()
        # slots are free again
        ok = _raw(server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200")
    with pytest.raises(ValueError, match="max_connections"):
        _quiet_server(max_connections=0)
