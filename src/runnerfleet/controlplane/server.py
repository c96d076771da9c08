"""The control plane as a local HTTP server (`runnerfleet serve`): the Lambda's logic on
127.0.0.1 for the sandbox, where the GitHub emulator delivers its webhooks here.

Routes:
- `POST /webhook`: runnerfleet.controlplane.webhook_handler.WebhookProcessor.handle, the
  same code the Lambda function runs.
- `GET /healthz`: `{"ok": true}`.

Optionally a background thread calls `tick()` (a reconcile pass) every `tick_seconds`; a
failing pass is logged and the next one runs as planned. Only loopback addresses are bound.

The `*_for(cfg, target)` functions at the end wire the same pieces the Lambda builds from its
environment, from a FleetConfig and a runnerfleet.target.Target (sandbox or AWS): the
DynamoDB table when it is deployed (in-memory stores otherwise), the webhook secret from the
environment or SSM, the fleet, metrics and the GitHub client.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runnerfleet.controlplane.webhook_handler import Reply, WebhookProcessor
from runnerfleet.github.webhooks import MAX_BODY_BYTES
from runnerfleet.ui import redact

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ControlPlaneServer:
    """A threading HTTP server around one WebhookProcessor."""

    def __init__(
        self,
        processor: WebhookProcessor,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tick: Callable[[], Any] | None = None,
        tick_seconds: float = 60.0,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(
                f"`runnerfleet serve` binds loopback addresses only, not {host!r}; in AWS the "
                "webhook is served by the control plane's Lambda function"
            )
        self.processor = processor
        self.host, self.port = host, port
        self._tick, self._tick_seconds = tick, tick_seconds
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}"

    def start(self) -> str:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self.processor))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        serve = threading.Thread(
            target=self._server.serve_forever, name="controlplane-http", daemon=True
        )
        serve.start()
        self._threads.append(serve)
        if self._tick is not None:
            ticker = threading.Thread(target=self._ticker, name="controlplane-tick", daemon=True)
            ticker.start()
            self._threads.append(ticker)
        return self.url

    def _ticker(self) -> None:
        assert self._tick is not None
        while not self._stop.wait(self._tick_seconds):
            try:
                self._tick()
            except Exception as exc:  # a failed pass must not stop the next one
                log.error(redact(f"periodic pass failed: {type(exc).__name__}: {exc}"))

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for t in self._threads:
            t.join(timeout=5)

    def wait(self) -> None:
        """Block until stop() (or Ctrl-C in the caller)."""
        self._stop.wait()

    def __enter__(self) -> ControlPlaneServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(processor: WebhookProcessor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "runnerfleet-controlplane"
        sys_version = ""

        def _reply(self, reply: Reply) -> None:
            data = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] == "/healthz":
                self._reply(Reply(200, {"ok": True}))
            else:
                self._reply(Reply(404, {"ok": False, "error": f"no route GET {self.path}"}))

        def do_POST(self) -> None:
            raw_length = self.headers.get("content-length")
            if raw_length is None or not raw_length.isdigit():
                self.close_connection = True
                self._reply(Reply(411, {"ok": False, "error": "Content-Length is required"}))
                return
            length = int(raw_length)
            if length > MAX_BODY_BYTES:
                self.close_connection = True  # the body is left unread
                self._reply(Reply(413, {"ok": False, "error": "body over GitHub's 25 MB cap"}))
                return
            if self.path.split("?", 1)[0] != "/webhook":
                self.rfile.read(length)
                self._reply(Reply(404, {"ok": False, "error": f"no route POST {self.path}"}))
                return
            body = self.rfile.read(length)
            try:
                reply = processor.handle(dict(self.headers.items()), body)
            except Exception as exc:  # the reply must not leak details
                log.error(redact(f"webhook failed: {type(exc).__name__}: {exc}"))
                reply = Reply(500, {"ok": False, "error": "internal error; see the server log"})
            self._reply(reply)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(redact("controlplane: " + format % args))

    return Handler


# ---- local wiring (CLI): the same pieces the Lambda builds from its environment ----------
def table_name(name: str) -> str:
    """The control plane's table (infra/modules/control-plane)."""
    return f"{name}-control-plane"


def pools_for(cfg: Any) -> list[Any]:
    """The fleet's pools from a FleetConfig (labels as the registrar registers them)."""
    from runnerfleet.controlplane.scaler import build_pools

    r = cfg.runners
    return build_pools(
        r.mode,
        r.labels,
        {p.name: p.labels for p in r.pools},
        ephemeral=r.ephemeral,
        static_count=r.count,
        sizes={p.name: (p.min_size, p.max_size) for p in r.pools},
    )


def _has_table(dynamodb: Any, table: str) -> bool:
    try:
        dynamodb.describe_table(TableName=table)
    except dynamodb.exceptions.ResourceNotFoundException:
        return False
    return True


def webhook_secret(cfg: Any, target: Any, env: dict[str, str], env_name: str) -> str | None:
    """The webhook secret: the named environment variable, else SSM
    `/<name>/github/webhook-secret` of the target; None when neither has one."""
    if env.get(env_name):
        return env[env_name]
    ssm = target.client("ssm")
    try:
        param = ssm.get_parameter(Name=f"/{cfg.name}/github/webhook-secret", WithDecryption=True)
    except ssm.exceptions.ParameterNotFound:
        return None
    value = str(param["Parameter"]["Value"])
    return value if value and value != "REPLACE_ME" else None


def processor_for(cfg: Any, target: Any, secret: str) -> WebhookProcessor:
    """A WebhookProcessor on the target: the DynamoDB table when deployed, else memory."""
    from runnerfleet.controlplane.fleet import Fleet
    from runnerfleet.controlplane.metrics import Metrics
    from runnerfleet.controlplane.queue import DynamoJobStore, JobStore, MemoryJobStore
    from runnerfleet.github import webhooks

    dynamodb = target.client("dynamodb")
    table = table_name(cfg.name)
    jobs: JobStore
    dedupe: webhooks.DeliveryDedupe
    if _has_table(dynamodb, table):
        jobs = DynamoJobStore(dynamodb, table)
        dedupe = webhooks.DynamoDedupe(table, dynamodb, ttl_attribute="expires_at")
    else:
        jobs, dedupe = MemoryJobStore(), webhooks.InMemoryDedupe()
    return WebhookProcessor(
        secret=secret,
        dedupe=dedupe,
        jobs=jobs,
        pools=pools_for(cfg),
        fleet=Fleet(cfg.name, target.client("autoscaling"), target.client("ec2")),
        metrics=Metrics(target.client("cloudwatch"), cfg.name),
    )


def github_for(cfg: Any, target: Any) -> Any:
    """The control plane's GitHub client: the sandbox's emulator, or credentials in SSM."""
    if target.sandbox is not None:
        from runnerfleet.controlplane.sandbox import sandbox_registrar

        registrar, _ = sandbox_registrar(cfg, target)
        return registrar.github
    from runnerfleet.controlplane.ssm_store import load_github_auth
    from runnerfleet.github.client import GitHubClient

    auth = load_github_auth(ssm=target.client("ssm"), name=cfg.name)
    return GitHubClient(cfg.github.api_url, auth)


def reconciler_for(cfg: Any, target: Any, jobs: Any = None, github: Any = None) -> Any:
    """A Reconciler for the fleet on the target (jobs: the processor's store when serving;
    github: a ready client, else one from the sandbox or the credentials in SSM)."""
    from runnerfleet.controlplane.fleet import Fleet
    from runnerfleet.controlplane.queue import DynamoJobStore, MemoryJobStore
    from runnerfleet.controlplane.reconciler import Reconciler, ReconcilerSettings
    from runnerfleet.controlplane.ssm_store import RegistrationStore

    if jobs is None:
        dynamodb = target.client("dynamodb")
        table = table_name(cfg.name)
        jobs = DynamoJobStore(dynamodb, table) if _has_table(dynamodb, table) else MemoryJobStore()
    return Reconciler(
        settings=ReconcilerSettings(cfg.name, boot_timeout=cfg.control_plane.boot_timeout_seconds),
        pools=pools_for(cfg),
        fleet=Fleet(cfg.name, target.client("autoscaling"), target.client("ec2")),
        github=github if github is not None else github_for(cfg, target),
        owner=cfg.github.owner,
        repository=cfg.github.repository,
        registrations=RegistrationStore(target.client("ssm"), f"/{cfg.name}/runners"),
        jobs=jobs,
    )
