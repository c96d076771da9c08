"""AWS wire formats: which operation an HTTP request calls, and how AWS writes an error.

Three protocols matter to the rules: query (Auto Scaling: form-encoded `Action=...`, XML
answers), JSON 1.1 (SSM: `X-Amz-Target: AmazonSSM.<Operation>`) and REST-JSON (Lambda: the
operation is the method and path). `parse` returns None for every request no rule watches, after
looking only at headers and path, so the body of an unwatched call is never read.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

from runnerfleet.strictaws.rules import Call, Refusal, watched

AUTOSCALING_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_LAMBDA_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"^/2015-03-31/functions/?$"), "CreateFunction"),
    (
        "PUT",
        re.compile(r"^/2015-03-31/functions/([^/]+)/configuration/?$"),
        "UpdateFunctionConfiguration",
    ),
    ("PUT", re.compile(r"^/2017-10-31/functions/([^/]+)/concurrency/?$"), "PutFunctionConcurrency"),
)
PROTOCOLS = {"autoscaling": "query", "lambda": "rest-json", "ec2": "ec2"} | dict.fromkeys(
    ("ssm", "dynamodb", "sqs", "events", "kms", "logs", "secretsmanager", "ecr"), "json"
)
# JSON services that answer AccessDeniedException with HTTP 400, not 403 (SSM: the SDK output
# in github-aws-runners/terraform-aws-github-runner#1279; DynamoDB's and KMS's error tables).
JSON_400 = frozenset({"ssm", "dynamodb", "kms", "logs", "events", "secretsmanager"})
PROTOCOLS["monitoring+json"] = "json-query"  # CloudWatch as botocore calls it (JSON 1.0)
_XML_ERROR = re.compile(rb"<Code>([^<]*)</Code>\s*<Message>([^<]*)</Message>", re.S)


class Headers(Protocol):
    """Case-insensitive header lookup (werkzeug's EnvironHeaders, or a plain dict in tests)."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True)
class Request:
    """The parts of an HTTP request that say which AWS operation it calls."""

    method: str
    path: str
    headers: Headers


def signing_service(headers: Headers) -> str | None:
    """The service name in the SigV4 credential scope (`.../us-east-1/ssm/aws4_request`)."""
    match = _SCOPE.search(headers.get("Authorization") or "")
    return match.group(1) if match else None


def protocol_service(service: str | None, headers: Headers) -> str | None:
    """The key of PROTOCOLS for a request: CloudWatch answers a JSON request in JSON."""
    if service == "monitoring" and "json" in (headers.get("Content-Type") or ""):
        return "monitoring+json"
    return service


def operation(request: Request) -> tuple[str, str | None, str | None] | None:
    """(service, operation, path function name) when a rule may watch it; None otherwise.

    For the query protocol the operation is only known from the body: it comes back as None and
    `parse` reads it from there.
    """
    service = signing_service(request.headers)
    if service == "ssm":
        target = request.headers.get("X-Amz-Target") or ""
        op = target.rpartition(".")[2]
        return ("ssm", op, None) if watched("ssm", op) else None
    if service == "lambda":
        for method, pattern, op in _LAMBDA_ROUTES:
            match = pattern.match(request.path)
            if request.method == method and match:
                name = unquote(match.group(1)) if match.groups() else None
                return "lambda", op, name
        return None
    if service == "autoscaling" and request.method == "POST":
        return "autoscaling", None, None
    return None


def parse(request: Request, body: bytes) -> Call | None:
    """The watched call `request` makes (its body already read), or None."""
    found = operation(request)
    if found is None:
        return None
    service, op, function_name = found
    if service == "autoscaling":
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        op = form.get("Action", "")
        return Call(service, op, form) if watched(service, op) else None
    try:
        params: Any = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(params, dict):
        return None
    if function_name is not None:
        params.setdefault("FunctionName", function_name)
    return Call(service, op or "", params)


def request_id() -> str:
    return str(uuid.uuid4())


def error_response(service: str, refusal: Refusal) -> tuple[int, list[tuple[str, str]], bytes]:
    """`refusal` as the service's protocol writes errors: status, headers, body."""
    rid = request_id()
    protocol = PROTOCOLS.get(service, "query")
    if protocol == "json":
        body = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", rid)]
    elif protocol == "rest-json":
        body = json.dumps({"Type": "User", "message": refusal.message}).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", rid),
            ("x-amzn-ErrorType", refusal.code),
        ]
    elif protocol == "json-query":  # AWS JSON 1.0, query-compatible: the query code in a header
        body = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", f"{refusal.code};Sender"),
            ("x-amzn-RequestId", rid),
        ]
    elif protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{_xml(refusal.code)}</Code><Message>{_xml(refusal.message)}</Message>"
            f"</Error></Errors><RequestID>{rid}</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml;charset=UTF-8")]
    else:
        body = (
            f'<ErrorResponse xmlns="{AUTOSCALING_NS}"><Error><Type>Sender</Type>'
            f"<Code>{_xml(refusal.code)}</Code><Message>{_xml(refusal.message)}</Message>"
            f"</Error><RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
    return refusal.status, headers, body


def rewrites_auth_errors(service: str | None) -> bool:
    """Whether moto's IAM refusals for `service` need AWS's own error format or code."""
    return PROTOCOLS.get(service or "") in ("json", "rest-json", "ec2", "json-query")


def rewrite_auth_error(
    service: str, body: bytes, status: int
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """moto writes its IAM errors in XML for every service; JSON services answer in JSON.

    AWS's JSON services call the policy refusal `AccessDeniedException` (HTTP 400 for those in
    JSON_400, 403 for Lambda), EC2 calls it
    `UnauthorizedOperation` ("You are not authorized to perform this operation. User: ...");
    the key and signature errors keep their names (InvalidClientTokenId, AuthFailure, ...).
    """
    match = _XML_ERROR.search(body)
    if match is None:
        return None
    code = match.group(1).decode()
    message = match.group(2).decode().replace("&lt;", "<").replace("&gt;", ">")
    message = message.replace("&quot;", '"').replace("&amp;", "&")
    if PROTOCOLS.get(service) == "ec2":
        if code != "AccessDenied":
            return None  # moto writes AuthFailure in EC2's shape already
        code = "UnauthorizedOperation"
        message = f"You are not authorized to perform this operation. {message}"
    elif code == "AccessDenied" and PROTOCOLS.get(service) in ("json", "rest-json"):
        code = "AccessDeniedException"
        if service in JSON_400:
            status = 400
    return error_response(service, Refusal(code, message, status))


def query_success(op: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """An empty successful answer of a query-protocol Auto Scaling operation."""
    rid = request_id()
    body = (
        f'<{op}Response xmlns="{AUTOSCALING_NS}"><{op}Result/>'
        f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{op}Response>"
    ).encode()
    return 200, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
