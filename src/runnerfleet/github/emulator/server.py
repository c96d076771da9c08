"""The emulator's HTTP server: auth, rate limits, faults, ETags, pagination, request log.

A stdlib ThreadingHTTPServer bound to a loopback address. REST routes live in `rest`,
runner and control routes (under /_emulator/) in `private`; this module is the plumbing
around them. With `validate=True` (or RFLEET_GITHUB_SPEC_VALIDATE=1) every REST
exchange and every webhook body is checked against GitHub's OpenAPI description and
violations are collected in `spec_violations` (the test suite asserts it stays empty) and
the offending response is replaced by HTTP 599 naming the violation, which no client
retries, so a test anywhere in the suite that hits it fails.
Requests that carry `X-Runnerfleet-Spec-Checked: client` were already checked, request and
response, by runnerfleet.github.spec.ValidatingTransport, so the emulator skips them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from runnerfleet.github.emulator import bodies
from runnerfleet.github.emulator.faults import FaultBook
from runnerfleet.github.emulator.hooks import (
    Delivery,
    WebhookSender,
    make_delivery,
    workflow_job_payload,
)
from runnerfleet.github.emulator.http import HttpError, Identity, Reply, Request, Route, match
from runnerfleet.github.emulator.rest import RestApi
from runnerfleet.github.emulator.state import EmulatorStateError, World
from runnerfleet.github.models import Runner
from runnerfleet.github.permissions import (
    ACCEPTED_PERMISSIONS_HEADER,
    NOT_ACCESSIBLE,
    endpoint,
    grants,
)

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
RATE_LIMIT = 5000
RATE_WINDOW_SECONDS = 3600.0
JWT_MAX_LIFETIME_SECONDS = 600 + 60  # GitHub allows exp <= 10 min ahead; 60 s clock skew
# Not RUNNERFLEET_*: config.py reads every RUNNERFLEET_* variable as a fleet setting.
VALIDATE_ENV = "RFLEET_GITHUB_SPEC_VALIDATE"
MAX_BODY_BYTES = 5 * 1024 * 1024
CHECKED_HEADER = "x-runnerfleet-spec-checked"
SPEC_VIOLATION_STATUS = 599


@lru_cache(maxsize=1)
def _app_key_pem() -> str:
    """One RSA key per process (generation costs ~50 ms; emulators are started often)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@lru_cache(maxsize=1)
def _app_public_key() -> Any:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(_app_key_pem().encode(), password=None)
    return key.public_key()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Bucket:
    def __init__(self, now: float) -> None:
        self.used = 0
        self.reset = now + RATE_WINDOW_SECONDS
        self.exhausted_until: float | None = None

    def roll(self, now: float) -> None:
        if now >= self.reset:
            self.used, self.reset = 0, now + RATE_WINDOW_SECONDS
        if self.exhausted_until is not None and now >= self.exhausted_until:
            self.exhausted_until = None
            self.used = 0

    def headers(self) -> dict[str, str]:
        remaining = 0 if self.exhausted_until is not None else max(0, RATE_LIMIT - self.used)
        reset = self.exhausted_until if self.exhausted_until is not None else self.reset
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(RATE_LIMIT - remaining),
            "x-ratelimit-reset": str(int(reset)),
            "x-ratelimit-resource": "core",
        }


class GitHubEmulator:
    """A local stand-in for api.github.com (see package docstring)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        clock: Callable[[], float] = time.time,
        validate: bool | None = None,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the GitHub emulator only binds loopback addresses, not {host!r}")
        self.host, self.port = host, port
        self.clock = clock
        self.world = World(clock)
        self._app_id = 424200 + secrets.randbelow(99)
        self.app_private_key_pem = _app_key_pem()
        self.pat = "ghp_" + secrets.token_hex(18)
        self.webhook_secret = webhook_secret
        self.faults = FaultBook()
        self.request_log: list[tuple[str, str, int]] = []
        self.spec_violations: list[str] = []
        self.deliveries: dict[str, Delivery] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._log_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url = ""
        self.api = RestApi(self.world, lambda: self._url, self._app_id)
        from runnerfleet.github.emulator.private import PrivateApi

        self.private = PrivateApi(self)
        self._routes: list[Route] = self.api.routes()
        self._private_routes: list[Route] = self.private.routes()
        self.sender = WebhookSender(webhook_url)
        if validate is None:
            validate = os.environ.get(VALIDATE_ENV) == "1"
        self._validator: Any = None
        if validate:
            from runnerfleet.github.spec import ApiSpec, WebhookSpec

            self._validator = (ApiSpec.load(), WebhookSpec.load())
        public_key = self._public_key()
        self._public_key_obj = public_key

    def __repr__(self) -> str:
        return f"GitHubEmulator(url={self._url!r}, app_id={self._app_id})"

    @staticmethod
    def _public_key() -> Any:
        return _app_public_key()

    # ------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        return self._url

    @property
    def app_id(self) -> str:
        return str(self._app_id)

    @property
    def client_id(self) -> str:
        """The App's client id, which GitHub also accepts as the JWT issuer."""
        return f"Iv1.emulator{self._app_id}"

    def start(self) -> str:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.port = int(port)
        host_s = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host_s}]" if ":" in host_s else host_s
        self._url = f"http://{shown}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="github-emulator",
            daemon=True,
        )
        self._thread.start()
        self.sender.start()
        return self._url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.sender.stop()

    def __enter__(self) -> GitHubEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------- python control

    def add_installation(
        self,
        owner: str,
        account_type: str = "Organization",
        permissions: Mapping[str, str] | None = None,
    ) -> int:
        """Install the App on `owner` with `permissions` (None: the documented set for the
        account type, see runnerfleet.github.permissions.required_permissions)."""
        return self.world.add_installation(owner, account_type, permissions)

    def set_permissions(self, owner: str, permissions: Mapping[str, str]) -> None:
        """Change what the installation on `owner` is granted (an owner editing the App)."""
        with self.world.lock:
            inst = self.world.installations.get(owner)
            if inst is None:
                raise KeyError(f"no installation for {owner}")
            inst.permissions = dict(permissions)

    def add_runner_group(self, owner: str, name: str) -> int:
        with self.world.lock:
            return self.world.add_runner_group(owner, name)

    def enqueue_job(self, owner: str, repo: str, labels: list[str]) -> int:
        with self.world.lock:
            job_id = self.world.enqueue_job(owner, repo, labels)
            self._drain_events()
        return job_id

    def runners(self, owner: str, repo: str | None = None) -> list[Runner]:
        with self.world.lock:
            recs = self.world.runners_in(owner, repo)
            return [Runner.from_api(self.api.runner_body(r)) for r in recs]

    def set_runner_offline(self, runner_id: int) -> None:
        with self.world.lock:
            rec = self.world.runners.get(runner_id)
            if rec is None:
                raise KeyError(f"no runner {runner_id}")
            self.world.set_offline(rec)

    def job(self, job_id: int) -> dict[str, Any]:
        with self.world.lock:
            return self.api.job_body(self.world.jobs[job_id])

    def call_counts(self, *, not_modified: bool = True) -> dict[str, int]:
        """Requests by "METHOD /template"; `not_modified=False` leaves out the 304 answers
        (which GitHub does not count against the rate limit)."""
        with self._log_lock:
            return dict(
                Counter(
                    f"{m} {t}" for m, t, status in self.request_log if not_modified or status != 304
                )
            )

    def inject(self, path_glob: str, kind: str, times: int = 1, **params: Any) -> None:
        method = params.pop("method", None)
        self.faults.add(path_glob, kind, times, method=method, **params)

    def redeliver(self, delivery_id: str) -> None:
        delivery = self.deliveries.get(delivery_id)
        if delivery is None:
            raise KeyError(f"no delivery {delivery_id}")
        self.sender.submit(delivery)

    def flush_webhooks(self, timeout: float = 10.0) -> None:
        self.sender.flush(timeout)

    def _drain_events(self) -> None:
        events, self.world.events[:] = list(self.world.events), []
        for action, job_id in events:
            job = self.world.jobs[job_id]
            payload = workflow_job_payload(self.api, job, action)
            inst = self.world.installations[job.owner]
            d = make_delivery(payload, job_id, self.webhook_secret, inst.id)
            if self._validator is not None:
                # GitHub omits the signature header when no secret is set; the description
                # lists it as required, so check unsigned deliveries as if signed.
                hdrs = {"X-Hub-Signature-256": "sha256=unsigned", **d.headers}
                for err in self._validator[1].errors(f"workflow_job.{action}", hdrs, d.body):
                    self.spec_violations.append(f"webhook workflow_job.{action}: {err}")
            self.deliveries[d.id] = d
            self.sender.submit(d)

    # ------------------------------------------------------------------ auth

    def _verify_jwt(self, token: str) -> Identity:
        import jwt

        try:
            claims = jwt.decode(
                token,
                self._public_key_obj,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iat", "exp", "iss"],
                },
            )
        except jwt.InvalidTokenError as exc:
            raise HttpError(401, f"A JSON web token could not be decoded ({exc})") from exc
        now = self.clock()
        if str(claims["iss"]) not in (self.app_id, self.client_id):
            raise HttpError(401, "'Issuer' claim ('iss') must be the App's id or client id")
        if claims["exp"] <= now:
            raise HttpError(401, "'Expiration time' claim ('exp') is in the past")
        if claims["exp"] - now > JWT_MAX_LIFETIME_SECONDS:
            raise HttpError(401, "'Expiration time' claim ('exp') is too far in the future")
        if claims["iat"] > now + 60:
            raise HttpError(401, "'Issued at' claim ('iat') must be in the past")
        return Identity("app")

    def _authenticate(self, route: Route, headers: dict[str, str]) -> Identity:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token:
            raise HttpError(401, "Requires authentication")
        if route.auth == "jwt":
            return self._verify_jwt(token)
        if token.startswith("eyJ"):
            raise HttpError(
                401, "A JWT cannot be used for this endpoint; use an installation token"
            )
        if secrets.compare_digest(token, self.pat):
            if route.auth == "installation":
                raise HttpError(403, "This endpoint requires an installation access token")
            return Identity("pat")
        entry = self.world.tokens.get(token)
        if entry is None or entry[1] <= self.clock():
            raise HttpError(401, "Bad credentials")
        return Identity("installation", entry[0])

    # -------------------------------------------------------------- dispatch

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path, query = parts.path, dict(parse_qsl(parts.query))
        if path.startswith("/_emulator/"):
            return self._handle_private(method, path, query, headers, raw_body)
        template = "<unknown>"
        status, body = 500, b""
        out_headers: dict[str, str] = {}
        try:
            found = match(self._routes, method, path)
            if found is None:
                raise HttpError(404, "Not Found")
            route, params = found
            template = route.template
            status, out_headers, body = self._handle_api(
                route, params, method, path, query, headers, raw_body
            )
        except HttpError as exc:
            status, out_headers, body = self._error(exc)
        with self._log_lock:
            self.request_log.append((method, template, status))
        checked = headers.get(CHECKED_HEADER) == "client"  # the caller validates it already
        if self._validator is not None and template != "<unknown>" and not checked:
            errs = self._validator[0].errors(
                method, path, query, headers, raw_body, status, out_headers, body
            )
            if errs:
                problems = [f"{method} {template} -> {status}: {e}" for e in errs]
                self.spec_violations.extend(problems)
                log.error("emulator response violates GitHub's description: %s", problems[0])
                # Fail loudly: a status no client retries, carrying the violation.
                status, out_headers, body = self._error(
                    HttpError(SPEC_VIOLATION_STATUS, "emulator spec violation: " + problems[0])
                )
        return status, out_headers, body

    def _error(self, exc: HttpError) -> tuple[int, dict[str, str], bytes]:
        hdrs = {"content-type": "application/json; charset=utf-8", **exc.headers}
        return exc.status, hdrs, json.dumps(bodies.error(exc.message, exc.status)).encode()

    def _handle_api(
        self,
        route: Route,
        params: dict[str, str],
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        raw_body: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        version = headers.get("x-github-api-version")
        if version is not None and version != API_VERSION:
            raise HttpError(400, f"API version {version} is not supported.")
        identity = self._authenticate(route, headers)
        fault = self.faults.take(method, path, route.template)
        phase = str(fault.params.get("phase", "before")) if fault else ""
        if fault and fault.kind == "latency" and phase == "before":
            time.sleep(float(fault.params.get("seconds", 1.0)))
        bucket = self._bucket(identity)
        if fault and fault.kind == "primary_rate_limit":
            bucket.exhausted_until = self.clock() + float(fault.params.get("reset_in", 120))
        if fault and fault.kind == "secondary_rate_limit":
            extra = {}
            if fault.params.get("retry_after", 60) is not None:
                extra["retry-after"] = str(int(fault.params.get("retry_after", 60)))
            raise HttpError(
                int(fault.params.get("status", 403)),
                "You have exceeded a secondary rate limit. Please wait a few minutes before "
                "you try again.",
                {**bucket.headers(), **extra},
            )
        if bucket.exhausted_until is not None:
            raise HttpError(403, "API rate limit exceeded for installation.", bucket.headers())
        if fault and fault.kind == "5xx" and phase == "before":
            raise HttpError(int(fault.params.get("status", 502)), "Server Error")
        self._authorize(route, identity)
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError as exc:
            raise HttpError(400, "Problems parsing JSON") from exc
        req = Request(method, path, route.template, params, query, body, headers, identity)
        with self.world.lock:
            try:
                self.world.tick()
                reply = route.handler(req)
            except EmulatorStateError as exc:
                raise HttpError(exc.status, exc.message) from exc
            finally:
                self._drain_events()
            # under the lock: a paginated reply's bodies are made as its page is rendered
            status, out_headers, payload = self._render(reply, path, query)
        if status == 200 and method == "GET":
            etag = 'W/"' + hashlib.sha256(payload).hexdigest()[:40] + '"'
            out_headers["etag"] = etag
            if headers.get("if-none-match") == etag:
                return 304, {"etag": etag, **bucket.headers()}, b""  # costs no rate limit
        bucket.used += 1
        out_headers.update(bucket.headers())
        if fault and fault.kind == "latency" and phase == "after":
            time.sleep(float(fault.params.get("seconds", 1.0)))
        if fault and fault.kind == "5xx" and phase == "after":
            raise HttpError(int(fault.params.get("status", 502)), "Server Error")
        return status, out_headers, payload

    def _authorize(self, route: Route, identity: Identity) -> None:
        """Installation tokens get what the installation was granted, per the one table."""
        if identity.kind != "installation" or identity.installation_id is None:
            return  # the App's JWT and the personal token are not limited by permissions
        row = endpoint(route.method, route.template)
        if row is None:
            raise HttpError(
                SPEC_VIOLATION_STATUS,
                f"emulator route {route.method} {route.template} is missing from "
                "runnerfleet.github.permissions.ENDPOINTS",
            )
        if row.permission is None:
            return
        with self.world.lock:
            granted = self.world.installation_by_id(identity.installation_id).permissions
            if not grants(granted, row.permission, row.level):
                # GitHub names what the endpoint accepts in this header (since 2023-08).
                accepted = {ACCEPTED_PERMISSIONS_HEADER: f"{row.permission}={row.level}"}
                raise HttpError(403, NOT_ACCESSIBLE, accepted)

    def _bucket(self, identity: Identity) -> _Bucket:
        with self._log_lock:
            bucket = self._buckets.get(identity.bucket)
            if bucket is None:
                bucket = self._buckets[identity.bucket] = _Bucket(self.clock())
            bucket.roll(self.clock())
            return bucket

    def _render(
        self, reply: Reply, path: str, query: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"content-type": "application/json; charset=utf-8", **reply.headers}
        body = reply.body
        if reply.items is not None:
            try:
                per_page = max(1, min(100, int(query.get("per_page", 30))))
                page = max(1, int(query.get("page", 1)))
            except ValueError as exc:
                raise HttpError(422, "per_page and page must be integers") from exc
            items = reply.items[(page - 1) * per_page : page * per_page]
            last = max(1, -(-len(reply.items) // per_page))
            links = []
            for rel, n in (("next", page + 1), ("last", last), ("first", 1), ("prev", page - 1)):
                if (rel in ("next", "last") and page < last) or (
                    rel in ("first", "prev") and page > 1
                ):
                    q = urlencode({**query, "per_page": per_page, "page": n})
                    links.append(f'<{self._url}{path}?{q}>; rel="{rel}"')
            if links:
                headers["link"] = ", ".join(links)
            if reply.items_key is None:
                body = items
            else:
                body = {"total_count": len(reply.items), reply.items_key: items, **reply.extra}
        if reply.status == 204 or body is None:
            return reply.status, {}, b""
        return reply.status, headers, json.dumps(body).encode()

    def _handle_private(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            found = match(self._private_routes, method, path)
            if found is None:
                raise HttpError(404, f"no emulator endpoint {method} {path}")
            route, params = found
            try:
                body = json.loads(raw) if raw else None
            except ValueError as exc:
                raise HttpError(400, "Problems parsing JSON") from exc
            req = Request(method, path, route.template, params, query, body, headers)
            with self.world.lock:
                try:
                    reply = route.handler(req)
                except EmulatorStateError as exc:
                    raise HttpError(exc.status, exc.message) from exc
                finally:
                    self._drain_events()
            return self._render(reply, path, query)
        except HttpError as exc:
            return self._error(exc)


def _make_handler(emulator: GitHubEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "GitHubEmulator"
        sys_version = ""

        def _dispatch(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                self.send_error(413)
                return
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, body = emulator.handle(self.command, self.path, headers, raw)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("emulator: %s", format % args)

    return Handler
