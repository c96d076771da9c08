"""The control plane as a local HTTP server (`runnerfleet serve`): the Lambda's logic on
127.0.0.1 for the sandbox, where the GitHub emulator delivers its webhooks here.

Routes:
- `POST /webhook`: runnerfleet.controlplane.webhook_handler.WebhookProcessor.handle, the
  same code the Lambda function runs.
- `GET /healthz`: `{"ok": true}`.

Optionally a background thread calls `tick()` (a reconcile pass) every `tick_seconds`; a
failing pass is logged and the next one runs as planned. Only loopback addresses are bound.

Bounded: each connection has a socket timeout (`request_timeout`, a half-open or slow client
is dropped), at most `max_connections` are served at once (one more gets 503 and is
closed), and a malformed request (a Content-Length that is not ASCII digits, a short body)
gets 400 instead of killing its thread.
This module only serves HTTP: the processor comes built (runnerfleet.controlplane.local).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runnerfleet.controlplane.webhook_handler import Reply, WebhookProcessor
from runnerfleet.github.webhooks import MAX_BODY_BYTES
from runnerfleet.redaction import redact

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
        request_timeout: float = 10.0,
        max_connections: int = 32,
    ) -> None:
        if request_timeout <= 0 or max_connections < 1:
            raise ValueError("request_timeout must be > 0 and max_connections >= 1")
        self.request_timeout, self.max_connections = request_timeout, max_connections
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
        handler = _handler(self.processor, self.request_timeout)
        self._server = _BoundedServer((self.host, self.port), handler, self.max_connections)
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

    def __enter__(self) -> ControlPlaneServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _BoundedServer(ThreadingHTTPServer):
    """A threading server that serves at most `limit` connections at once."""

    def __init__(self, address: tuple[str, int], handler: Any, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """socketserver's own steps, with the slot freed before the connection is closed: a
        client that sees the close finds the slot free (it was freed after, so a client
        reconnecting at once could still get 503 on a loaded machine)."""
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self._slots.release()
            self.shutdown_request(request)

    def _refuse(self, request: socket.socket) -> None:
        body = b'{"ok": false, "error": "too many connections; retry later"}'
        head = (
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        try:
            request.settimeout(1.0)
            request.sendall(head.encode() + body)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)


def _handler(processor: WebhookProcessor, request_timeout: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "runnerfleet-controlplane"
        sys_version = ""
        timeout = request_timeout  # socket timeout: half-open and slow clients are dropped

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
            try:
                self._post()
            except (TimeoutError, ConnectionError):
                self.close_connection = True  # the client went away or stalled: no reply

        def _post(self) -> None:
            raw_length = self.headers.get("content-length")
            if raw_length is None:
                self.close_connection = True
                self._reply(Reply(411, {"ok": False, "error": "Content-Length is required"}))
                return
            raw_length = raw_length.strip()
            if not (raw_length.isascii() and raw_length.isdigit()) or len(raw_length) > 12:
                self.close_connection = True
                self._reply(
                    Reply(400, {"ok": False, "error": "Content-Length must be ASCII digits"})
                )
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
            if len(body) != length:
                self.close_connection = True
                self._reply(Reply(400, {"ok": False, "error": "body shorter than Content-Length"}))
                return
            try:
                reply = processor.handle(dict(self.headers.items()), body)
            except Exception as exc:  # the reply must not leak details
                log.error(redact(f"webhook failed: {type(exc).__name__}: {exc}"))
                reply = Reply(500, {"ok": False, "error": "internal error; see the server log"})
            self._reply(reply)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(redact("controlplane: " + format % args))

    return Handler
