"""Check HTTP exchanges and webhook bodies against GitHub's official OpenAPI descriptions.

The descriptions are the parts of `@octokit/openapi` (api.github.com) and
`@octokit/openapi-webhooks` that runnerfleet uses, vendored into ./openapi/ by
scripts/vendor_github_openapi.py. Validation uses openapi-core (a dev dependency, imported
lazily; nothing in production imports this module unless validation is switched on).

Two deliberate allowances, both because GitHub's description does not list them although
GitHub sends them: a 304 Not Modified answer to a conditional GET (no body to check), and
error statuses an operation does not document (e.g. 401, 404 on DELETE), whose bodies must
still have GitHub's basic-error shape ({"message", "documentation_url"}).

One normalisation: GitHub's description marks some enums `nullable: true` without listing
`null` among the enum values (e.g. a job's `conclusion`, null until it completes). Under
OpenAPI 3.0.3's clarified rule such a schema would reject null, which GitHub really sends,
so `null` is added to those enums when the description is loaded (the vendored file stays
byte-for-byte GitHub's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import httpx

SPEC_HOST = "https://api.github.com"
CHECKED_HEADER = "X-Runnerfleet-Spec-Checked"


class SpecViolation(AssertionError):
    """An HTTP exchange or webhook body does not match GitHub's OpenAPI description."""


def _require_openapi_core() -> None:
    try:
        import openapi_core  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            "OpenAPI validation needs openapi-core (a dev dependency): pip install -e '.[dev]'"
        ) from exc


def _load(name: str) -> dict[str, Any]:
    text = resources.files("runnerfleet.github").joinpath("openapi", name).read_text()
    return dict(json.loads(text))


def _nullable_enums(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable_enums(v) for k, v in node.items()}
        enum = out.get("enum")
        if out.get("nullable") is True and isinstance(enum, list) and None not in enum:
            out["enum"] = [*enum, None]
        return out
    if isinstance(node, list):
        return [_nullable_enums(v) for v in node]
    return node


def _describe(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        for err in getattr(cause, "schema_errors", None) or []:
            where = "/".join(str(p) for p in getattr(err, "absolute_path", []))
            parts.append(f"  at {where or '<root>'}: {getattr(err, 'message', err)}")
        if not getattr(cause, "schema_errors", None):
            parts.append(f"  {type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return "\n".join(parts)


@dataclass
class _Req:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: Any


@dataclass
class _WebhookReq(_Req):
    name: str = ""


@dataclass
class _Resp:
    status_code: int
    content_type: str
    headers: Any
    data: bytes


def _params(query: Mapping[str, str], headers: Mapping[str, str]) -> Any:
    from openapi_core.datatypes import RequestParameters
    from werkzeug.datastructures import Headers, ImmutableMultiDict

    return RequestParameters(
        query=ImmutableMultiDict(list(query.items())),
        header=Headers(list(headers.items())),
        cookie=ImmutableMultiDict(),
    )


class ApiSpec:
    """The vendored REST description, ready to validate requests and responses."""

    def __init__(self, doc: dict[str, Any]) -> None:
        _require_openapi_core()
        from openapi_core import Config, OpenAPI, V30RequestValidator, V30ResponseValidator

        self.doc = doc
        # The description is GitHub's own; re-validating it would cost ~1 s per load.
        config = Config(
            spec_validator_cls=None,
            request_validator_cls=V30RequestValidator,
            response_validator_cls=V30ResponseValidator,
        )
        self._openapi = OpenAPI.from_dict(doc, config=config)
        self._templates: list[tuple[Any, str]] = [(self._regex(p), p) for p in doc["paths"]]

    @classmethod
    @lru_cache(maxsize=1)
    def load(cls) -> ApiSpec:
        return cls(_nullable_enums(_load("api.github.com.json")))

    @staticmethod
    def _regex(template: str) -> Any:
        import re

        return re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", template) + "$")

    def template(self, path: str) -> str | None:
        for regex, template in self._templates:
            if regex.match(path):
                return template
        return None

    def errors(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        req_headers: Mapping[str, str],
        req_body: bytes,
        status: int,
        resp_headers: Mapping[str, str],
        resp_body: bytes,
    ) -> list[str]:
        """Every way this exchange differs from the description ([] when it conforms)."""
        template = self.template(path)
        if template is None:
            return [f"{method} {path} is not a path in the vendored GitHub description"]
        operation = self.doc["paths"][template].get(method.lower())
        if operation is None:
            return [f"{method} {template} is not an operation in GitHub's description"]
        out: list[str] = []
        lower = {k.lower(): v for k, v in req_headers.items()}
        req = _Req(
            SPEC_HOST,
            path,
            method.lower(),
            req_body or None,
            lower.get("content-type", "application/json"),
            _params(query, req_headers),
        )
        try:
            self._openapi.validate_request(req)
        except Exception as exc:  # openapi-core raises many types; all are violations
            out.append("request: " + _describe(exc))
        documented = operation.get("responses", {})
        resp_lower = {k.lower(): v for k, v in resp_headers.items()}
        if status == 304 or (str(status) not in documented and status >= 400):
            if status != 304:
                out += self._basic_error(resp_body)
            return out
        resp = _Resp(
            status,
            resp_lower.get("content-type", "application/json").split(";")[0],
            _params({}, resp_headers).header,
            resp_body,
        )
        try:
            self._openapi.validate_response(req, resp)
        except Exception as exc:
            out.append(f"response {status}: " + _describe(exc))
        return out

    @staticmethod
    def _basic_error(body: bytes) -> list[str]:
        try:
            data = json.loads(body)
        except ValueError:
            return ["error response body is not JSON"]
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            return ["error response body lacks GitHub's basic-error `message`"]
        return []


class WebhookSpec:
    """The vendored webhook description (OpenAPI 3.1 `webhooks`)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        _require_openapi_core()
        from openapi_core import Config, OpenAPI, V31WebhookRequestValidator

        self.doc = doc
        config = Config(
            spec_validator_cls=None, webhook_request_validator_cls=V31WebhookRequestValidator
        )
        self._openapi = OpenAPI.from_dict(doc, config=config)

    @classmethod
    @lru_cache(maxsize=1)
    def load(cls) -> WebhookSpec:
        return cls(_load("webhooks.json"))

    def errors(self, event_action: str, headers: Mapping[str, str], body: bytes) -> list[str]:
        """Check a delivery; `event_action` is e.g. "workflow_job.queued"."""
        name = event_action.replace("_", "-").replace(".", "-")
        if name not in self.doc["webhooks"]:
            return [f"webhook {event_action} is not in the vendored webhook description"]
        req = _WebhookReq("", "", "post", body, "application/json", _params({}, headers), name)
        try:
            self._openapi.validate_request(req)
        except Exception as exc:
            return [_describe(exc)]
        return []


class ValidatingTransport(httpx.BaseTransport):
    """An httpx transport that checks every exchange against the REST description.

    Violations are appended to `violations` and raised as SpecViolation, so the call under
    test fails. Paths under `/_emulator/` (the emulator's private surface) are not checked.
    """

    def __init__(
        self, inner: httpx.BaseTransport, base_url: str, spec: ApiSpec | None = None
    ) -> None:
        self.inner = inner
        self.base_path = urlsplit(base_url).path.rstrip("/")
        self.spec = spec or ApiSpec.load()
        self.violations: list[str] = []
        self.checked = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        req_body = request.read()
        request.headers[CHECKED_HEADER] = "client"  # the emulator need not check it again
        response = self.inner.handle_request(request)
        path = request.url.path
        if path.startswith("/_emulator/"):
            return response
        resp_body = response.read()
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path) :]
        errs = self.spec.errors(
            request.method,
            path,
            dict(request.url.params),
            dict(request.headers),
            req_body,
            response.status_code,
            dict(response.headers),
            resp_body,
        )
        self.checked += 1
        if errs:
            self.violations.extend(errs)
            raise SpecViolation(f"{request.method} {path}: " + "\n".join(errs))
        return response

    def close(self) -> None:
        self.inner.close()
