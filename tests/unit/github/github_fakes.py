"""Test doubles shared by the GitHub tests (a virtual clock)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from runnerfleet.github.permissions import required_permissions

if TYPE_CHECKING:
    from runnerfleet.github.client import AppAuth, GitHubClient, TokenAuth

# Permissions of an organization whose App is set up for both org and repository runners.
BOTH_KINDS = {**required_permissions("org"), **required_permissions("repo")}


class MakeClient(Protocol):
    """The make_client fixture: make_client(auth=None, **GitHubClient kwargs) -> GitHubClient."""

    def __call__(
        self, auth: AppAuth | TokenAuth | None = None, /, **kwargs: Any
    ) -> GitHubClient: ...


T0 = 1_800_000_000.0  # 2027-01-15; any fixed instant works


class FakeClock:
    """A virtual clock: `sleep` advances time instantly and records each wait."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"negative sleep {seconds}"
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


class HookReceiver:
    """A loopback HTTP server that records webhook deliveries (headers and raw body)."""

    def __init__(self, status: int = 200) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.received.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
