"""GitHub REST client for runner management: App or token auth, retries, ETags, pagination.

Built on httpx + PyJWT (PyJWT imported lazily, on first App-auth call). Import cost, measured
with `python -X importtime` on the 2-core dev box under load (load average ~7), without
`rich`/`click` as in a Lambda bundle: `import runnerfleet.github.client` 195-240 ms, of which
httpx is ~200 ms and this package ~12 ms; App auth adds 70-100 ms (PyJWT + cryptography);
`runnerfleet.github.webhooks` ~10 ms (stdlib only). With `rich`/`click` installed httpx also
loads its CLI (~280 ms total). githubkit 0.16.1 was tried first: in a clean `pip --target`
directory it failed to import (hishel API mismatch), and it generates pydantic models for the
whole API, so httpx + PyJWT it is.

Test hook: with RFLEET_GITHUB_SPEC_VALIDATE=1 and no explicit transport, every exchange
is checked against GitHub's OpenAPI description (runnerfleet.github.spec); a mismatch raises
SpecViolation. Production never sets it.

Behaviour:
- `X-GitHub-Api-Version: 2022-11-28` on every call; a timeout on every call.
- App auth: JWT (iat -60 s, exp +9 min) for app endpoints; installation tokens cached per
  installation until one minute before they expire; installation found from org/user/repo,
  once per client (a repository of an organization already looked up uses its installation:
  an App has one installation per account).
- Rate limits: primary (waits for `x-ratelimit-reset`, also pre-emptively once the last
  response said 0 remain), secondary (403/429 with `retry-after`, else backoff from 60 s);
  5xx/network errors: exponential backoff; at most `max_retries` retries, with jitter.
- Bounded: no wait longer than `max_wait_seconds`, none past the call's budget
  (`call_budget_seconds`) or the invocation's (`begin_invocation(remaining_seconds=...,
  budget_seconds=...)`, e.g. Lambda's remaining time); such a retry is not waited for and
  BudgetExceeded names the wait GitHub asked for (runnerfleet.github.budget).
- Mutations (POST/PUT/PATCH/DELETE) are serialised through one lock.
- List calls send `If-None-Match` with the last ETag, page by page; a 304 reuses the cached
  page (GitHub does not count 304s against the rate limit).
- `stats()` counts answers by endpoint (`METHOD /path/{template}`, from
  runnerfleet.github.permissions), 304s apart; installation tokens are cached per client.
- Discovery without webhooks: installation repositories → queued/in-progress runs → their
  queued jobs (`list_queued_jobs`), all conditional.
- `clock` and `sleep` are injectable, so tests run on a virtual clock.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from runnerfleet.github import retry
from runnerfleet.github.auth import TOKEN_REFRESH_MARGIN_SECONDS, AppAuth, TokenAuth, app_jwt
from runnerfleet.github.budget import (
    DEFAULT_CALL_BUDGET_SECONDS,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_RESERVE_SECONDS,
    Budget,
)
from runnerfleet.github.errors import (
    AuthError,
    BudgetExceeded,
    ConflictError,
    GitHubError,
    NotFoundError,
    OwnerKindError,
    RateLimitBudgetExceeded,
    RateLimitError,
    RetryBudgetExceeded,
    RunnerGroupNotFound,
    RunnerNameConflict,
    TransientError,
    ValidationError,
)
from runnerfleet.github.models import (
    JitConfig,
    RegistrationToken,
    Repository,
    Runner,
    RunnerGroup,
    WorkflowJob,
    WorkflowRun,
)
from runnerfleet.github.permissions import ACCEPTED_PERMISSIONS_HEADER, endpoint_for_path
from runnerfleet.github.tls import shared_ssl_context

__all__ = [
    "API_VERSION",
    "AppAuth",
    "AuthError",
    "BudgetExceeded",
    "CallStats",
    "ConflictError",
    "GitHubClient",
    "GitHubError",
    "JitConfig",
    "NotFoundError",
    "OwnerKindError",
    "RateLimitError",
    "RegistrationToken",
    "Repository",
    "Runner",
    "RunnerGroup",
    "RunnerGroupNotFound",
    "RunnerNameConflict",
    "TokenAuth",
    "TransientError",
    "ValidationError",
    "WorkflowJob",
    "WorkflowRun",
]

API_VERSION = "2022-11-28"
PER_PAGE = 100
# Not RUNNERFLEET_*: config.py reads every RUNNERFLEET_* variable as a fleet setting.
VALIDATE_ENV = "RFLEET_GITHUB_SPEC_VALIDATE"
ETAG_CACHE_SIZE = 4096  # pages: 50 of runners at 5,000, plus runs and jobs per repository
DEFAULT_GROUP_ID = 1  # every organization's "Default" runner group; repository runners' group
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallStats:
    """Answers received, by endpoint (`METHOD /path/{template}`): `calls` count against the
    rate limit, `not_modified` are 304 answers to conditional requests (free)."""

    calls: dict[str, int] = field(default_factory=dict)
    not_modified: dict[str, int] = field(default_factory=dict)

    @property
    def counted(self) -> int:
        return sum(self.calls.values())

    @property
    def free(self) -> int:
        return sum(self.not_modified.values())


class _Ambiguous(Exception):
    """A mutation may or may not have happened (timeout, network error or 5xx)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)


def _scope(owner: str, repo: str | None) -> str:
    if not owner or "/" in owner:
        raise ValueError(f"owner must be an org or user login, got {owner!r}")
    return f"/repos/{owner}/{repo}" if repo else f"/orgs/{owner}"


def _user_owner(owner: str) -> OwnerKindError:
    return OwnerKindError(
        f"{owner} is a user account: GitHub has no runners for user accounts, only for "
        "organizations and repositories; set [github] repository to one of its "
        "repositories (repository runners), or use an organization as [github] owner"
    )


def _next_link(link_header: str | None) -> str | None:
    if not link_header:
        return None
    for part in link_header.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params:
            return url.strip().strip("<>")
    return None


def _error_for(resp: httpx.Response, method: str, path: str) -> GitHubError:
    try:
        data = resp.json()
        message = str(data.get("message") or resp.reason_phrase) if isinstance(data, dict) else ""
    except ValueError:
        message = resp.reason_phrase
    status = resp.status_code
    accepted = resp.headers.get(ACCEPTED_PERMISSIONS_HEADER)
    if status == 403 and accepted:
        message = f"{message} (the App needs {accepted.replace(';', ' or ')})"
    cls: type[GitHubError] = GitHubError
    if status == 404:
        cls = NotFoundError
    elif status in (401, 403):
        cls = AuthError
    elif status == 409:
        cls = ConflictError
    elif status == 422:
        cls = ValidationError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = TransientError
    return cls(message or "request failed", status, method=method, path=path)


class GitHubClient:
    """Synchronous, thread-safe GitHub REST client (see module docstring)."""

    def __init__(
        self,
        api_url: str,
        auth: AppAuth | TokenAuth,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 5,
        call_budget_seconds: float = DEFAULT_CALL_BUDGET_SECONDS,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
    ) -> None:
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(
                f"api_url must be an http(s) URL such as https://api.github.com or "
                f"https://ghe.example.com/api/v3, got {api_url!r}"
            )
        self.api_url = api_url.rstrip("/")
        self._auth = auth
        self._clock = clock
        self._sleep = sleep
        self._max_retries = max_retries
        self._budget = Budget(
            clock, call_budget_seconds=call_budget_seconds, max_wait_seconds=max_wait_seconds
        )
        self._timeout = timeout
        self._api_path = urlsplit(self.api_url).path.rstrip("/")
        self._calls: Counter[str] = Counter()
        self._not_modified: Counter[str] = Counter()
        self._groups: dict[tuple[str, str], int] = {}
        self._rand = random.Random()
        if transport is None and os.environ.get(VALIDATE_ENV) == "1":
            from runnerfleet.github.spec import ValidatingTransport

            transport = ValidatingTransport(
                httpx.HTTPTransport(verify=shared_ssl_context()), self.api_url
            )
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=timeout,
            transport=transport,
            verify=shared_ssl_context(),
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "runnerfleet",
            },
        )
        self._lock = threading.Lock()  # guards caches
        self._token_lock = threading.Lock()  # one installation-token fetch at a time
        self._mutation_lock = threading.RLock()  # serial mutations (re-entrant: token fetch)
        self._tokens: dict[int, tuple[str, float]] = {}
        self._installations: dict[str, int] = {}
        # url+query -> (etag, parsed body, Link header): a 304 may omit the Link header
        self._etags: OrderedDict[str, tuple[str, Any, str | None]] = OrderedDict()
        self._primary_reset: float | None = None

    def __repr__(self) -> str:
        return f"GitHubClient({self.api_url!r}, auth={type(self._auth).__name__})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ auth

    def _app(self) -> AppAuth:
        if not isinstance(self._auth, AppAuth):
            raise AuthError("this call needs GitHub App credentials, not a personal token")
        return self._auth

    def _jwt_header(self) -> str:
        return f"Bearer {app_jwt(self._app(), self._clock())}"

    def _installation_id(self, owner: str, repo: str | None) -> int:
        app = self._app()
        if app.installation_id is not None:
            return app.installation_id
        key = f"{owner}/{repo}" if repo else owner
        with self._lock:
            if key in self._installations:
                return self._installations[key]
            if repo and owner in self._installations:
                # an App has one installation per account: the organization's, already
                # looked up, is its repositories' too (saves GET /repos/.../installation)
                return self._installations[owner]
        if repo:
            body = self._call("GET", f"/repos/{owner}/{repo}/installation", auth="jwt").json()
        else:
            try:
                body = self._call("GET", f"/orgs/{owner}/installation", auth="jwt").json()
            except NotFoundError:
                self._call("GET", f"/users/{owner}/installation", auth="jwt")
                raise _user_owner(owner) from None
        with self._lock:
            self._installations[key] = int(body["id"])
        return int(body["id"])

    def _installation_token(self, installation_id: int) -> str:
        with self._token_lock:  # concurrent callers share one fetch
            now = self._clock()
            with self._lock:
                cached = self._tokens.get(installation_id)
                if cached and now < cached[1] - TOKEN_REFRESH_MARGIN_SECONDS:
                    return cached[0]
            path = f"/app/installations/{installation_id}/access_tokens"
            body = self._call("POST", path, auth="jwt").json()
            expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
            token = str(body["token"])
            with self._lock:
                self._tokens[installation_id] = (token, expires.timestamp())
            return token

    def installation_permissions(self, installation_id: int) -> dict[str, str]:
        """Mint a token for the installation (caching it) and return the permissions GitHub
        says it carries: what the installation was granted."""
        path = f"/app/installations/{int(installation_id)}/access_tokens"
        body = self._call("POST", path, auth="jwt").json()
        expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
        with self._lock:
            self._tokens[int(installation_id)] = (str(body["token"]), expires.timestamp())
        perms = body.get("permissions") or {}
        return {str(k): str(v) for k, v in perms.items()}

    def _auth_header(self, auth: str | tuple[str, str | None]) -> str:
        if auth == "jwt":
            return self._jwt_header()
        if isinstance(self._auth, TokenAuth):
            return f"Bearer {self._auth.token}"
        if auth == "installation":
            return f"Bearer {self._installation_token(self._sole_installation())}"
        assert isinstance(auth, tuple)
        owner, repo = auth
        return f"Bearer {self._installation_token(self._installation_id(owner, repo))}"

    def _sole_installation(self) -> int:
        app = self._app()
        if app.installation_id is not None:
            return app.installation_id
        with self._lock:
            if "" in self._installations:  # looked up once per client
                return self._installations[""]
        installs = self.list_installations()
        if len(installs) != 1:
            owners = ", ".join(str(i["account"]["login"]) for i in installs) or "none"
            raise AuthError(
                f"the App has {len(installs)} installations ({owners}); pass "
                "AppAuth(installation_id=...) to choose one"
            )
        with self._lock:
            self._installations[""] = int(installs[0]["id"])
        return int(installs[0]["id"])

    def _invalidate_token(self) -> None:
        with self._lock:
            self._tokens.clear()

    # --------------------------------------------------------------- requests

    def _call(
        self,
        method: str,
        path: str,
        *,
        auth: str | tuple[str, str | None],
        params: dict[str, Any] | None = None,
        json: Any = None,
        etag: bool = False,
        ambiguous_raises: bool = False,
    ) -> httpx.Response:
        """Send one logical request with retries; return the final 2xx/304 response."""
        # App-level calls (minting tokens) are not fleet mutations; keeping them out of the
        # mutation lock also avoids a lock-order inversion with the token lock.
        if method == "GET" or auth == "jwt":
            return self._send(method, path, auth, params, json, etag, ambiguous_raises)
        with self._mutation_lock:
            return self._send(method, path, auth, params, json, etag, ambiguous_raises)

    def _send(
        self,
        method: str,
        path: str,
        auth: str | tuple[str, str | None],
        params: dict[str, Any] | None,
        json: Any,
        etag: bool,
        ambiguous_raises: bool,
    ) -> httpx.Response:
        cache_key = f"{path}?{sorted((params or {}).items())}"
        refreshed_auth = False
        last_error: GitHubError | None = None
        started = self._clock()
        endpoint_key = self._endpoint_key(method, path)
        for attempt in range(self._max_retries + 1):
            self._wait_for_primary_reset(method, path, started)
            headers = {"Authorization": self._auth_header(auth)}
            cached = None
            if etag:
                with self._lock:
                    cached = self._etags.get(cache_key)
                if cached:
                    headers["If-None-Match"] = cached[0]
            left, limit = self._budget.left(started)
            if left <= 0:
                raise RetryBudgetExceeded(
                    f"{limit} is spent; not sending {method} {path}",
                    0,
                    method=method,
                    path=path,
                    allowed=0.0,
                )
            timeout = max(0.5, min(self._timeout, left))
            try:
                resp = self._http.request(
                    method, path, params=params, json=json, headers=headers, timeout=timeout
                )
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__} talking to GitHub"
                log.warning("github %s %s: %s (attempt %d)", method, path, reason, attempt + 1)
                if ambiguous_raises:
                    raise _Ambiguous(reason) from exc
                last_error = TransientError(reason, 0, method=method, path=path)
                if attempt < self._max_retries:
                    delay = retry.backoff(attempt, self._rand.random())
                    self._pause(delay, None, reason, method, path, started, rate_limited=False)
                continue
            self._note_rate_limit(resp)
            with self._lock:
                if resp.status_code == 304:
                    self._not_modified[endpoint_key] += 1
                else:
                    self._calls[endpoint_key] += 1
            if resp.status_code == 304 and cached is not None:
                resp._content = b""  # body comes from the cache
                resp.extensions["runnerfleet_cached_json"] = cached[1]
                if cached[2] and "link" not in resp.headers:
                    resp.headers["link"] = cached[2]
                return resp
            if resp.status_code < 300:
                if etag and resp.headers.get("etag"):
                    with self._lock:
                        entry = (resp.headers["etag"], resp.json(), resp.headers.get("link"))
                        self._etags[cache_key] = entry
                        self._etags.move_to_end(cache_key)
                        while len(self._etags) > ETAG_CACHE_SIZE:
                            self._etags.popitem(last=False)
                return resp
            app_token = isinstance(self._auth, AppAuth) and auth != "jwt"
            if resp.status_code == 401 and app_token and not refreshed_auth:
                refreshed_auth = True  # installation token revoked or expired early
                self._invalidate_token()
                continue
            decision = retry.decide(
                resp.status_code,
                resp.headers,
                resp.text,
                attempt=attempt,
                now=self._clock(),
                jitter=self._rand.random(),
            )
            last_error = _error_for(resp, method, path)
            if decision.retry and resp.status_code >= 500 and ambiguous_raises:
                raise _Ambiguous(f"HTTP {resp.status_code}")
            if not decision.retry:
                raise last_error
            if decision.rate_limited:
                last_error = RateLimitError(
                    f"rate limited: {decision.reason}", resp.status_code, method=method, path=path
                )
            if attempt >= self._max_retries:
                break
            self._pause(
                decision.delay,
                decision.asked,
                decision.reason,
                method,
                path,
                started,
                rate_limited=decision.rate_limited,
                status=resp.status_code,
            )
        assert last_error is not None
        raise last_error

    def _note_rate_limit(self, resp: httpx.Response) -> None:
        wait = retry.primary_wait(resp.headers, self._clock())
        with self._lock:
            self._primary_reset = None if wait is None else self._clock() + wait

    def _wait_for_primary_reset(self, method: str, path: str, started: float) -> None:
        with self._lock:
            reset = self._primary_reset
        if reset is not None:
            delay = reset - self._clock()
            if delay > 0:
                self._pause(
                    delay + 1.0,
                    delay,
                    "primary rate limit exhausted (x-ratelimit-remaining: 0)",
                    method,
                    path,
                    started,
                    rate_limited=True,
                    status=403,
                )
            with self._lock:
                self._primary_reset = None

    def _pause(
        self,
        delay: float,
        asked: float | None,
        reason: str,
        method: str,
        path: str,
        started: float,
        *,
        rate_limited: bool,
        status: int = 0,
    ) -> None:
        """Check that a wait of `delay` seconds fits the budgets (else raise BudgetExceeded
        naming the wait GitHub asked for), then sleep it."""
        verdict = self._budget.check(delay, started)
        if not verdict.fits:
            wanted = asked if asked is not None else delay
            what = "GitHub asked to wait" if asked is not None else "the next retry would wait"
            cls: type[BudgetExceeded] = (
                RateLimitBudgetExceeded if rate_limited else RetryBudgetExceeded
            )
            raise cls(
                f"{reason}: {what} {wanted:.0f} s, but {verdict.limit} leaves "
                f"{verdict.allowed:.0f} s, so the call gives up now (retry after "
                f"{wanted:.0f} s)",
                status,
                method=method,
                path=path,
                requested_wait=wanted,
                allowed=verdict.allowed,
            )
        log.warning("github %s %s: %s; retrying in %.1fs", method, path, reason, delay)
        self._sleep(delay)

    def begin_invocation(
        self,
        remaining_seconds: Callable[[], float] | None = None,
        *,
        budget_seconds: float | None = None,
        reserve_seconds: float = DEFAULT_RESERVE_SECONDS,
    ) -> None:
        """Start an invocation (a Lambda event, a reconcile pass): no retry will wait past
        `remaining_seconds()` - `reserve_seconds` (e.g. `lambda:
        context.get_remaining_time_in_millis() / 1000`) or past `budget_seconds` from now."""
        self._budget.begin(
            remaining_seconds, budget_seconds=budget_seconds, reserve_seconds=reserve_seconds
        )

    # ------------------------------------------------------------------ stats

    def _endpoint_key(self, method: str, path: str) -> str:
        rel = urlsplit(path).path
        if rel.startswith(self._api_path + "/"):
            rel = rel[len(self._api_path) :]
        row = endpoint_for_path(method, rel)
        return row.key if row is not None else f"{method} {rel}"

    def stats(self) -> CallStats:
        """Answers so far by endpoint; 304s apart (they cost no rate limit)."""
        with self._lock:
            return CallStats(dict(self._calls), dict(self._not_modified))

    def reset_stats(self) -> None:
        with self._lock:
            self._calls.clear()
            self._not_modified.clear()

    @staticmethod
    def _json(resp: httpx.Response) -> Any:
        cached = resp.extensions.get("runnerfleet_cached_json")
        return cached if cached is not None else resp.json()

    def _paginate(
        self, path: str, key: str, auth: str | tuple[str, str | None], params: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": PER_PAGE}
        while url:
            resp = self._call("GET", url, auth=auth, params=query, etag=True)
            yield from self._json(resp)[key]
            url = _next_link(resp.headers.get("link"))
            query = None  # the next link carries the query

    # ----------------------------------------------------------------- runners

    def list_runners(self, owner: str, repo: str | None = None) -> list[Runner]:
        path = f"{_scope(owner, repo)}/actions/runners"
        return [Runner.from_api(r) for r in self._paginate(path, "runners", (owner, repo), {})]

    def find_runner(self, owner: str, repo: str | None, name: str) -> Runner | None:
        """The runner called `name` in this scope, or None (uses the `name` filter)."""
        path = f"{_scope(owner, repo)}/actions/runners"
        for body in self._paginate(path, "runners", (owner, repo), {"name": name}):
            if body["name"] == name:
                return Runner.from_api(body)
        return None

    def get_runner(self, owner: str, repo: str | None, runner_id: int) -> Runner | None:
        path = f"{_scope(owner, repo)}/actions/runners/{int(runner_id)}"
        try:
            return Runner.from_api(self._call("GET", path, auth=(owner, repo)).json())
        except NotFoundError:
            return None

    def delete_runner(self, owner: str, repo: str | None, runner_id: int) -> None:
        path = f"{_scope(owner, repo)}/actions/runners/{int(runner_id)}"
        try:
            self._call("DELETE", path, auth=(owner, repo))
        except NotFoundError:
            log.info("runner %s already gone", runner_id)

    def create_registration_token(self, owner: str, repo: str | None = None) -> RegistrationToken:
        path = f"{_scope(owner, repo)}/actions/runners/registration-token"
        return RegistrationToken.from_api(self._call("POST", path, auth=(owner, repo)).json())

    def create_remove_token(self, owner: str, repo: str | None = None) -> RegistrationToken:
        path = f"{_scope(owner, repo)}/actions/runners/remove-token"
        return RegistrationToken.from_api(self._call("POST", path, auth=(owner, repo)).json())

    def generate_jit_config(
        self,
        owner: str,
        repo: str | None,
        *,
        name: str,
        labels: list[str],
        runner_group_id: int | None = None,
        runner_group: str | None = None,
        work_folder: str = "_work",
    ) -> JitConfig:
        """Register a just-in-time runner called `name` and return its one-use config.

        The runner joins `runner_group_id`, else the group named `runner_group` (resolved
        once per client, organizations only), else the Default group (id 1).

        Never leaves two runners for one name: after an ambiguous failure (timeout, network
        error, 5xx) or a 409 name conflict, the runner with that name is looked up; an unused
        one (offline, idle) is deleted and the registration retried. A runner that is online
        or busy under that name is left alone and RunnerNameConflict is raised.
        """
        if not labels:
            raise ValueError("generate_jit_config: labels must name at least one label")
        path = f"{_scope(owner, repo)}/actions/runners/generate-jitconfig"
        if runner_group_id is None:
            runner_group_id = (
                self.resolve_runner_group(owner, runner_group, repo=repo)
                if runner_group
                else DEFAULT_GROUP_ID
            )
        body = {
            "name": name,
            "labels": list(labels),
            "runner_group_id": runner_group_id,
            "work_folder": work_folder,
        }
        last: str = ""
        started = self._clock()
        for attempt in range(self._max_retries + 1):
            try:
                resp = self._call(
                    "POST", path, auth=(owner, repo), json=body, ambiguous_raises=True
                )
                return JitConfig.from_api(resp.json())
            except ConflictError:
                last = "name conflict (409)"
            except _Ambiguous as exc:
                last = f"ambiguous failure ({exc})"
                delay = retry.backoff(attempt, self._rand.random())
                self._pause(delay, None, last, "POST", path, started, rate_limited=False)
            log.warning("jit config for %s: %s; checking for a leftover runner", name, last)
            existing = self.find_runner(owner, repo, name)
            if existing is not None:
                if existing.busy or existing.status == "online":
                    raise RunnerNameConflict(
                        f"runner {name!r} already exists and is {existing.status}"
                        f"{' and busy' if existing.busy else ''}; pick another name or "
                        f"remove it first",
                        409,
                        method="POST",
                        path=path,
                    )
                self.delete_runner(owner, repo, existing.id)
        raise TransientError(
            f"could not register runner {name!r}: {last}", 0, method="POST", path=path
        )

    # ----------------------------------------------------------------- labels

    def _labels_path(self, owner: str, repo: str | None, runner_id: int) -> str:
        return f"{_scope(owner, repo)}/actions/runners/{int(runner_id)}/labels"

    @staticmethod
    def _label_names(resp: httpx.Response) -> list[str]:
        return [str(lbl["name"]) for lbl in resp.json()["labels"]]

    def list_runner_labels(self, owner: str, repo: str | None, runner_id: int) -> list[str]:
        path = self._labels_path(owner, repo, runner_id)
        return self._label_names(self._call("GET", path, auth=(owner, repo)))

    def add_runner_labels(
        self, owner: str, repo: str | None, runner_id: int, labels: list[str]
    ) -> list[str]:
        path = self._labels_path(owner, repo, runner_id)
        resp = self._call("POST", path, auth=(owner, repo), json={"labels": labels})
        return self._label_names(resp)

    def set_runner_labels(
        self, owner: str, repo: str | None, runner_id: int, labels: list[str]
    ) -> list[str]:
        path = self._labels_path(owner, repo, runner_id)
        resp = self._call("PUT", path, auth=(owner, repo), json={"labels": labels})
        return self._label_names(resp)

    def remove_runner_label(
        self, owner: str, repo: str | None, runner_id: int, label: str
    ) -> list[str]:
        path = f"{self._labels_path(owner, repo, runner_id)}/{label}"
        return self._label_names(self._call("DELETE", path, auth=(owner, repo)))

    # ------------------------------------------------------ groups, repos, jobs

    def list_runner_groups(self, owner: str) -> list[RunnerGroup]:
        path = f"{_scope(owner, None)}/actions/runner-groups"
        items = self._paginate(path, "runner_groups", (owner, None), {})
        return [RunnerGroup.from_api(g) for g in items]

    def resolve_runner_group(self, owner: str, name: str, *, repo: str | None = None) -> int:
        """The id of the runner group called `name` (cached per client).

        Repository runners have no groups: "Default" is 1, any other name is an error.
        """
        if repo is not None:
            if name.casefold() == "default":
                return DEFAULT_GROUP_ID
            raise RunnerGroupNotFound(
                f"runner group {name!r}: runner groups exist only for organizations; "
                f"repository runners ({owner}/{repo}) use the Default group, so set "
                '[github] runner_group = "Default" or remove [github] repository'
            )
        key = (owner, name.casefold())
        with self._lock:
            if key in self._groups:
                return self._groups[key]
        self.check_owner(owner, None)
        groups = self.list_runner_groups(owner)
        found = [g for g in groups if g.name == name] or [
            g for g in groups if g.name.casefold() == name.casefold()
        ]
        if not found:
            names = ", ".join(repr(g.name) for g in groups) or "none"
            raise RunnerGroupNotFound(
                f"runner group {name!r} does not exist in organization {owner} (it has "
                f"{names}); create it under Settings > Actions > Runner groups or set "
                "[github] runner_group to one of those",
                404,
                method="GET",
                path=f"/orgs/{owner}/actions/runner-groups",
            )
        with self._lock:
            self._groups[key] = found[0].id
        return found[0].id

    def check_owner(self, owner: str, repo: str | None) -> str:
        """Return "Organization" or "User"; OwnerKindError for a user account without a repository
        (GitHub has no user-level runners)."""
        if isinstance(self._auth, AppAuth):
            try:
                self._call("GET", f"/orgs/{owner}/installation", auth="jwt")
                return "Organization"
            except NotFoundError:
                self._call("GET", f"/users/{owner}/installation", auth="jwt")
                if repo is None:
                    raise _user_owner(owner) from None
                return "User"
        if repo is not None:
            return "Organization"  # a repository scope works for both; no need to know
        try:
            self.list_runner_groups(owner)
        except NotFoundError:
            raise _user_owner(owner) from None
        return "Organization"

    def list_installation_repositories(self) -> list[Repository]:
        items = self._paginate("/installation/repositories", "repositories", "installation", {})
        return [Repository.from_api(r) for r in items]

    def list_installations(self) -> list[dict[str, Any]]:
        """The App's installations (JWT auth): raw bodies with `id` and `account.login`."""
        return list(self._paginate_list("/app/installations"))

    def _paginate_list(self, path: str) -> Iterator[dict[str, Any]]:
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": PER_PAGE}
        while url:
            resp = self._call("GET", url, auth="jwt", params=query)
            yield from resp.json()
            url = _next_link(resp.headers.get("link"))
            query = None

    def list_workflow_runs(self, owner: str, repo: str, status: str) -> list[WorkflowRun]:
        path = f"/repos/{owner}/{repo}/actions/runs"
        items = self._paginate(path, "workflow_runs", (owner, repo), {"status": status})
        return [WorkflowRun.from_api(r) for r in items]

    def list_run_jobs(self, owner: str, repo: str, run_id: int) -> list[WorkflowJob]:
        path = f"/repos/{owner}/{repo}/actions/runs/{int(run_id)}/jobs"
        return [WorkflowJob.from_api(j) for j in self._paginate(path, "jobs", (owner, repo), {})]

    def list_queued_jobs(
        self,
        repositories: Iterable[str] | None = None,
        *,
        run_statuses: Sequence[str] = ("queued", "in_progress"),
        skip_runs: Container[int] = (),
    ) -> list[WorkflowJob]:
        """Every queued job in `repositories` ("owner/name"; None: the installation's),
        except in the runs of `skip_runs` (runs whose jobs the caller already knows).

        GitHub has no organization-wide queue: this walks repositories → their runs with
        each of `run_statuses` (a run in progress can still hold queued jobs) → the runs'
        jobs, keeping those with status "queued". Every list is conditional, so a poll that
        finds nothing changed costs 304s only.
        """
        if repositories is None:
            names = [r.full_name for r in self.list_installation_repositories()]
        else:
            names = list(repositories)
        seen: dict[int, WorkflowJob] = {}
        for full_name in names:
            owner, _, repo = full_name.partition("/")
            if not owner or not repo or "/" in repo:
                raise ValueError(f"repositories must be 'owner/name', got {full_name!r}")
            runs: dict[int, WorkflowRun] = {}
            for status in run_statuses:
                for run in self.list_workflow_runs(owner, repo, status):
                    runs.setdefault(run.id, run)
            for run_id in sorted(r for r in runs if r not in skip_runs):
                for job in self.list_run_jobs(owner, repo, run_id):
                    if job.status == "queued":
                        seen.setdefault(job.id, job)
        return [seen[k] for k in sorted(seen)]

    def get_job(self, owner: str, repo: str, job_id: int) -> WorkflowJob:
        path = f"/repos/{owner}/{repo}/actions/jobs/{int(job_id)}"
        return WorkflowJob.from_api(self._call("GET", path, auth=(owner, repo)).json())
