"""The WSGI layer in front of moto's app: refuse what AWS refuses, forward everything else.

For a request that no rule watches (decided from headers and path alone) the layer hands the
WSGI environ to moto untouched: no body read, no copy. A watched request's body is read once,
checked by the rules, and put back for moto. A refusal is answered here after the caller's
IAM permission for the call is checked as moto would (AWS authorizes before it validates).
CompleteLifecycleAction and RecordLifecycleActionHeartbeat, which moto does not implement, are
answered here from the registry of active lifecycle actions (motostate.LifecycleActions:
a launch action holds its instance in Pending:Wait; ABANDON terminates it; heartbeat timeouts
apply the hook's default result, checked on every Auto Scaling request).

One request at a time: moto's models are not thread-safe and AWS never fails the way they do.
Under the sandbox's concurrent load, a TransactWriteItems deep-copying a table while another
thread wrote to it raised "dictionary changed size during iteration" (HTTP 500). An SDK that
retries a write that had landed before the error sees its own item: the likely cause of a
Terraform state-lock PutItem that once failed with ConditionalCheckFailed on a lock created
after the command started. Every request therefore runs under one lock, and
its response is read inside it. The one exception is an SQS ReceiveMessage (JSON protocol),
which long-polls: it waits outside the lock, or no SendMessage could reach the queue it waits
on (moto guards a queue's messages with a lock of its own).

An SDK's retry (`amz-sdk-request: attempt>=2`) of an invocation (`amz-sdk-invocation-id`) that
was answered with success gets that answer again instead of running twice (runnerfleet.
strictaws.retries: the emulator lost the first answer; the write then failed on itself).

Sandbox-only control endpoints under `/_strictaws/` (loopback only, like the whole sandbox):
- `POST /_strictaws/assume-role`  {RoleArn, Service, RoleSessionName?, Region?, DurationSeconds?}
  -> credentials of the role as the service (trust policy checked) or 403 AccessDenied;
- `POST /_strictaws/lifecycle-actions` {AutoScalingGroupName, LifecycleHookName, InstanceId,
  LifecycleActionToken?} -> {LifecycleActionToken}: an action becomes active;
- `GET /_strictaws/lifecycle-actions` -> {active: [...], completed: [... with result]};
- `GET /_strictaws/health` -> {iam: "enforced" | "off", rules: [...]}.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, cast
from urllib.parse import parse_qs

from moto import settings
from moto.core.models import DEFAULT_ACCOUNT_ID
from werkzeug.datastructures import EnvironHeaders

from runnerfleet.strictaws import retries, rules, webidentity, wire
from runnerfleet.strictaws.motostate import (
    LifecycleActions,
    MotoState,
    TrustError,
    assume_as_service,
    seed_admin,
)

log = logging.getLogger("runnerfleet.strictaws")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]
LOCAL_ANSWERS = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat")
LONG_POLL = "AmazonSQS.ReceiveMessage"  # waits for messages: runs outside the lock
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}


def _respond(
    start_response: StartResponse, status: int, headers: list[tuple[str, str]], body: bytes
) -> list[bytes]:
    headers = [*headers, ("Content-Length", str(len(body)))]
    start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
    return [body]


def _json(start_response: StartResponse, status: int, payload: Any) -> list[bytes]:
    body = json.dumps(payload).encode()
    return _respond(start_response, status, [("Content-Type", "application/json")], body)


def _region(headers: EnvironHeaders) -> str:
    scope = (headers.get("Authorization") or "").partition("Credential=")[2].split("/")
    return scope[2] if len(scope) > 3 else "us-east-1"


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    body: bytes = stream.read(int(length)) if length.isdigit() else stream.read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def iam_enforced() -> bool:
    return bool(settings.INITIAL_NO_AUTH_ACTION_COUNT == 0)


class StrictAws:
    """WSGI middleware: `StrictAws(moto_app, admin_key=(id, secret))`."""

    def __init__(self, app: WsgiApp, admin_key: tuple[str, str]):
        self.app = app
        self.admin_key = admin_key
        self.lifecycle = LifecycleActions()
        seed_admin(*admin_key)
        self.answers = retries.Answers()  # retries of answered invocations
        self._one_at_a_time = threading.Lock()  # moto is not thread-safe (module docstring)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") == LONG_POLL:
            return self._handle(environ, start_response)
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
        tries = retries.attempt(environ.get("HTTP_AMZ_SDK_REQUEST"))
        answered = self.answers.replay(invocation, tries)
        if answered is not None:
            log.warning("attempt %d of invocation %s was answered before: answer replayed",
                        tries, invocation)  # fmt: skip
            start_response(answered.status, answered.headers)
            return [answered.body]
        seen: list[tuple[str, list[tuple[str, str]]]] = []

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.append((status, list(headers)))
            return start_response(status, headers, exc_info)

        with self._one_at_a_time:
            result = self._handle(environ, recording)
            try:
                body = b"".join(result)  # the body too is moto's state, read under the lock
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        if invocation and seen:
            self.answers.keep(invocation, retries.Answer(seen[-1][0], seen[-1][1], body))
        return [body]

    def _handle(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        method: str = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/_strictaws/"):
            return self._control(method, path, environ, start_response)
        headers = EnvironHeaders(environ)
        if "HTTP_AUTHORIZATION" not in environ and path in ("", "/"):
            answered = self._unsigned_sts(environ, headers, start_response)
            if answered is not None:
                return answered
        request = wire.Request(method, path, headers)
        if wire.operation(request) is None:
            if path.rstrip("/") == "/moto-api/reset" and method == "POST":
                result = self.app(environ, start_response)
                seed_admin(*self.admin_key)  # moto forgot every IAM user
                return result
            service = wire.protocol_service(wire.signing_service(headers), headers)
            return self._forward(environ, start_response, service)
        body = _read_body(environ)
        call = wire.parse(request, body)
        service = wire.signing_service(headers)
        if service == "autoscaling":
            self.lifecycle.expire()  # heartbeat timeouts, before anyone reads the group
        if call is None:
            return self._forward(environ, start_response, service)
        state = MotoState(_region(headers), self.lifecycle)
        refusal = rules.check(call, state)
        if refusal is None and call.operation not in LOCAL_ANSWERS:
            return self._forward(environ, start_response, service)
        denied = self._authorize(environ, headers, body, call)
        if denied is not None:
            return _respond(start_response, *wire.error_response(call.service, denied))
        if refusal is not None:
            return _respond(start_response, *wire.error_response(call.service, refusal))
        if call.operation == "CompleteLifecycleAction":
            outcome = str(call.params.get("LifecycleActionResult", "CONTINUE"))
            self.lifecycle.complete(*rules.lifecycle_action_key(call.params), outcome)
        elif call.operation == "RecordLifecycleActionHeartbeat":
            self.lifecycle.heartbeat(*rules.lifecycle_action_key(call.params))
        return _respond(start_response, *wire.query_success(call.operation))

    def _forward(
        self, environ: dict[str, Any], start_response: StartResponse, service: str | None
    ) -> Iterable[bytes]:
        """moto's answer; its IAM refusals rewritten as the service writes them (wire)."""
        if service is None or not wire.rewrites_auth_errors(service):
            return self.app(environ, start_response)
        held: list[Any] = []

        def hold_403(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("403"):
                held.append((status, headers))
                return lambda _data: None
            return start_response(status, headers, exc_info)

        result = self.app(environ, hold_403)
        if not held:
            return result
        body = b"".join(result)
        if hasattr(result, "close"):
            result.close()
        rewritten = wire.rewrite_auth_error(service, body, 403)
        if rewritten is None:
            start_response(held[0][0], held[0][1])
            return [body]
        return _respond(start_response, *rewritten)

    def _unsigned_sts(
        self, environ: dict[str, Any], headers: EnvironHeaders, start_response: StartResponse
    ) -> list[bytes] | None:
        """An unsigned sts:AssumeRoleWithWebIdentity, answered as STS does (webidentity); any
        other unsigned API call (moto: HTTP 500 on the missing header) is refused as AWS
        refuses it: MissingAuthenticationToken (query, 403) or ...Exception (JSON, 400)."""
        query = environ.get("QUERY_STRING", "")
        if "X-Amz-Credential" in query:  # presigned: moto checks it
            return None
        form = "x-www-form-urlencoded" in (headers.get("Content-Type") or "")
        body = _read_body(environ).decode("utf-8", "replace") if form else ""
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        params.update({k: v[-1] for k, v in parse_qs(body).items()})
        if params.get("Action") == "AssumeRoleWithWebIdentity":
            return _respond(start_response, *webidentity.assume(params, "us-east-1"))
        if not iam_enforced():
            return None
        if headers.get("X-Amz-Target"):
            missing = rules.Refusal(
                "MissingAuthenticationTokenException", "Missing Authentication Token", 400
            )
            return _respond(start_response, *wire.error_response("ssm", missing))
        if params.get("Action"):
            refusal = ("MissingAuthenticationToken", "Request is missing Authentication Token")
            return _respond(start_response, *webidentity.error(*refusal, 403))
        return None

    # ---- IAM for the calls answered here -------------------------------------------------------
    def _authorize(
        self, environ: dict[str, Any], headers: EnvironHeaders, body: bytes, call: rules.Call
    ) -> rules.Refusal | None:
        """moto's own signature and policy check for a call this layer answers itself."""
        if not iam_enforced():
            return None
        from moto.core.exceptions import AccessDeniedError
        from moto.iam.access_control import IAMRequest

        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        try:
            iam_request = IAMRequest(
                account_id=DEFAULT_ACCOUNT_ID,
                method=environ.get("REQUEST_METHOD", "GET"),
                path=path,
                data={},
                body=body,
                headers=cast(dict[str, str], headers),
                action=call.operation,
            )
            iam_request.check_signature()
            iam_request.check_action_permitted("*")
        except AccessDeniedError as exc:
            code = "AccessDenied" if call.service == "autoscaling" else "AccessDeniedException"
            return rules.Refusal(code, exc.message, 400 if call.service in wire.JSON_400 else 403)
        except Exception as exc:  # moto's signature/key errors carry AWS's code and message
            code = str(getattr(exc, "error_type", "AccessDenied"))
            return rules.Refusal(code, str(getattr(exc, "message", exc)), 403)
        return None

    # ---- control endpoints ---------------------------------------------------------------------
    def _control(
        self, method: str, path: str, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        route = path.removeprefix("/_strictaws/").rstrip("/")
        payload: dict[str, Any] = {}
        if method == "POST":
            try:
                payload = json.loads(_read_body(environ) or b"{}")
            except ValueError:
                return _json(start_response, 400, {"message": "the body must be a JSON object"})
        if route == "health" and method == "GET":
            iam = "enforced" if iam_enforced() else "off"
            names = [f"{svc}:{op}" for svc, op in rules.RULES]
            return _json(start_response, 200, {"iam": iam, "rules": names})
        if route == "assume-role" and method == "POST":
            return self._assume(payload, start_response)
        if route == "lifecycle-actions" and method == "GET":
            return _json(start_response, 200, self.lifecycle.snapshot())
        if route == "lifecycle-actions" and method == "POST":
            missing = [
                k
                for k in ("AutoScalingGroupName", "LifecycleHookName", "InstanceId")
                if not payload.get(k)
            ]
            if missing:
                return _json(start_response, 400, {"message": f"missing {', '.join(missing)}"})
            token = self.lifecycle.register(
                str(payload["AutoScalingGroupName"]),
                str(payload["LifecycleHookName"]),
                str(payload["InstanceId"]),
                payload.get("LifecycleActionToken") or None,
            )
            return _json(start_response, 200, {"LifecycleActionToken": token})
        return _json(start_response, 404, {"message": f"no sandbox endpoint {method} {path}"})

    def _assume(self, payload: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        role_arn, service = payload.get("RoleArn"), payload.get("Service")
        if not role_arn or not service:
            return _json(start_response, 400, {"message": "RoleArn and Service are required"})
        try:
            credentials = assume_as_service(
                str(role_arn),
                str(service),
                str(payload.get("RoleSessionName") or service.split(".")[0]),
                str(payload.get("Region") or "us-east-1"),
                int(payload.get("DurationSeconds") or 3600),
            )
        except TrustError as exc:
            return _json(start_response, 403, {"__type": "AccessDenied", "message": str(exc)})
        return _json(start_response, 200, {"Credentials": credentials})
