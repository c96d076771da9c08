"""Fixes to moto's IAM enforcement that the strict emulator applies in its own process.

moto's signature check hashes the request's parsed parameters instead of its body when the
body is empty; for Lambda those parameters are the request headers, so every signed GET or
DELETE to Lambda (ListFunctions, GetFunction, ...) fails with SignatureDoesNotMatch once IAM is
enforced. SigV4 signs the raw body, which is empty for GET/HEAD/DELETE, so the check here hashes
an empty body for those (moto's own choice otherwise: for query-protocol POSTs moto has already
consumed the body into the parameters, which it re-encodes). moto also hands the check a
decoded query string (`prefix=env:/`) where the client signed the encoded one
(`prefix=env%3A%2F`, Terraform's S3 backend), and likewise the path (S3 keys, Lambda ARNs),
so both are encoded again as the client sent them.

moto authorizes most services against the resource "*" (it knows no resource ARN for them),
so the Resource element of a policy decided nothing. Here the request's resource ARNs are built
as AWS builds them (runnerfleet.strictaws.resources, a table by action, with the resource's
tags for aws:ResourceTag conditions) and each must be allowed by a statement whose Resource
(or NotResource) matches it, glob-style (`*`, `?`) and case-sensitively as IAM does; a Deny
that matches one refuses. The refusal names the action and the resource, as AWS does ("User:
... is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:...:parameter/x
because no identity-based policy allows the ssm:GetParameter action"). For an action the
table does not know, moto's "*" stays and an Allow statement matches it by its actions alone
(a Deny scoped to ARNs does not). A request that hands a role to a service (Lambda's Role, an
instance profile) also needs iam:PassRole on that role (`iam:PassedToService` known).

moto's trust-policy check crashes (TypeError, HTTP 500) on a statement whose Principal names
only services (`{"Service": "lambda.amazonaws.com"}`) when a user or role calls
sts:AssumeRole: such a statement does not name the caller, so here it does not match (AWS
answers AccessDenied).

moto names the action after the SigV4 signing name, which differs from the IAM prefix for
CloudWatch: it asked for `monitoring:PutMetricData`, so a role granted
`cloudwatch:PutMetricData` (as AWS requires) was refused. The prefix is mapped here.

A statement that does not name the caller, or whose Condition is not
met (runnerfleet.strictaws.conditions), does not apply (moto: DENIED), and a Deny statement
without Resource denies (moto: PERMITTED).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, unquote

from runnerfleet.strictaws import resources
from runnerfleet.strictaws.conditions import ConditionContext

_applied = False
_STRICT: ContextVar[bool] = ContextVar("strictaws_resource_strict", default=False)
_BODILESS = ("GET", "HEAD", "DELETE")
IAM_PREFIX = {"monitoring": "cloudwatch"}  # SigV4 signing name -> IAM action prefix


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM's Resource matching: `*` any run of characters, `?` one, the rest literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn, re.S) is not None


def _resource_request(iam_request: Any) -> resources.Request:
    body = iam_request._body
    if not body and isinstance(iam_request._data, dict):
        data = {k: v[-1] if isinstance(v, list) and v else v for k, v in iam_request._data.items()}
        params: dict[str, Any] = data
    else:
        params = resources.params_of(body, str(iam_request._path))
    return resources.Request(
        action=str(iam_request._action),
        region=str(iam_request._region),
        account=str(iam_request.account_id),
        path=str(iam_request._path),
        params=params,
    )


def _statements(policy: Any) -> list[Any]:
    from moto.iam.access_control import IAMPolicy

    found = IAMPolicy(policy)._policy_json.get("Statement", [])
    return found if isinstance(found, list) else [found]


def _decide(iam_request: Any, action: str, target: resources.Target) -> None:
    """Allow `action` on `target` (any of its ARNs) by the caller's policies, or refuse it."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    caller, known = resources.caller_context(
        str(iam_request._access_key.arn), str(iam_request._region)
    )
    context = ConditionContext({**caller, **target.context}, (*known, *target.known))
    allowed = denied = False
    token = _STRICT.set(True)
    try:
        for policy in iam_request._access_key.collect_policies():
            for statement in _statements(policy):
                checker = IAMPolicyStatement(statement)
                for arn in target.arns:
                    result = checker.is_action_permitted(action, arn, None, context)
                    denied = denied or result == PermissionResult.DENIED
                    allowed = allowed or result == PermissionResult.PERMITTED
    finally:
        _STRICT.reset(token)
    if denied or not allowed:
        _refuse(iam_request, action, target.arn, explicit=denied)


def _why(action: str, arn: str, *, explicit: bool = False) -> str:
    where = "" if arn == "*" else f" on resource: {arn}"
    if explicit:
        return f"{action}{where} with an explicit deny in an identity-based policy"
    return f"{action}{where} because no identity-based policy allows the {action} action"


def _refuse(iam_request: Any, action: str, arn: str, *, explicit: bool) -> None:
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.access_control import IAMRequest

    if not isinstance(iam_request, IAMRequest):
        iam_request._raise_access_denied()
    why = _why(action, arn, explicit=explicit)
    raise AccessDeniedError(user_arn=iam_request._access_key.arn, action=why)


def canonical_path(path: str) -> str:
    """`path?query` percent-encoded once, as the client sent it (moto hands it over decoded)."""
    base, sep, query = path.partition("?")
    base = quote(unquote(base), safe="/~")
    if not sep or not query:
        return base
    pairs = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append(f"{quote(unquote(key), safe='-_.~')}={quote(unquote(value), safe='-_.~')}")
    return f"{base}?{'&'.join(pairs)}"


def apply() -> None:
    """Patch moto's `IAMRequestBase._create_aws_request` (idempotent)."""
    global _applied
    if _applied:
        return
    from botocore.awsrequest import AWSRequest
    from moto.iam.access_control import IAMRequestBase

    def _create_aws_request(self: Any) -> AWSRequest:
        signed = self._get_string_between(
            "SignedHeaders=", ",", self._headers["Authorization"]
        ).split(";")
        headers = self._create_headers_for_aws_request(signed, self._headers)
        body = self._body or (b"" if self._method in _BODILESS else self._data)
        request = AWSRequest(
            method=self._method, url=canonical_path(self._path), data=body, headers=headers
        )
        request.context["timestamp"] = headers["X-Amz-Date"]
        return request

    setattr(IAMRequestBase, "_create_aws_request", _create_aws_request)  # noqa: B010

    original_init = IAMRequestBase.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        prefix, _, name = str(self._action).partition(":")
        if prefix in IAM_PREFIX:
            self._action = f"{IAM_PREFIX[prefix]}:{name}"

    setattr(IAMRequestBase, "__init__", __init__)  # noqa: B010

    original_check = IAMRequestBase.check_action_permitted

    def check_action_permitted(self: Any, resource: str) -> None:
        if self._action == "sts:GetCallerIdentity":  # always allowed, as in AWS (and moto)
            return
        request = _resource_request(self)
        found = resources.targets(request) if resource == "*" else None
        if found is None:
            original_check(self, resource)
        else:
            for target in found:  # every resource the call acts on must be allowed
                _decide(self, target.action or str(self._action), target)
        for action, target in resources.implied(request):
            _decide(self, action, target)
        for role, service in resources.passed_roles(request):
            context = ConditionContext({"iam:PassedToService": service}, ("iam:passedtoservice",))
            _decide(self, "iam:PassRole", resources.Target((role,), context, context.known))

    setattr(IAMRequestBase, "check_action_permitted", check_action_permitted)  # noqa: B010

    from moto.iam.access_control import IAMPolicyStatement

    original_matches = IAMPolicyStatement._check_element_matches

    def _check_element_matches(self: Any, statement_element: Any, value: str) -> bool:
        if statement_element in ("Resource", "NotResource"):
            patterns = self._statement[statement_element]
            patterns = patterns if isinstance(patterns, list) else [patterns]
            if value == "*" and not _STRICT.get() and statement_element == "Resource":
                return bool(self._statement.get("Effect") == "Allow")  # moto knows no resource
            return any(arn_matches(str(p), value) for p in patterns)
        return bool(original_matches(self, statement_element, value))

    setattr(IAMPolicyStatement, "_check_element_matches", _check_element_matches)  # noqa: B010

    def _check_principal(self: Any, principal: str) -> bool:
        expected = self._statement.get("Principal")
        if not expected:
            return True
        if expected == "*":
            return True
        aws = expected.get("AWS") if isinstance(expected, dict) else None
        if aws is None:
            return False
        return bool(aws == "*" or principal == aws or principal in aws)

    setattr(IAMPolicyStatement, "_check_principal", _check_principal)  # noqa: B010

    from moto.iam.access_control import PermissionResult

    from runnerfleet.strictaws.conditions import conditions_hold

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> PermissionResult:
        st = self._statement
        if "NotAction" in st:
            concerned = not self._check_element_matches("NotAction", action)
        else:
            concerned = self._check_element_matches("Action", action)
        if not concerned or self.is_unknown_principal(st.get("Principal")):
            return PermissionResult.NEUTRAL
        if principal and not self._check_principal(principal):
            return PermissionResult.NEUTRAL
        allow = st.get("Effect") == "Allow"
        if not conditions_hold(st.get("Condition"), allow, incoming_condition_values):
            return PermissionResult.NEUTRAL
        if st.get("Resource") and not self._check_element_matches("Resource", resource):
            return PermissionResult.NEUTRAL
        if st.get("NotResource") and self._check_element_matches("NotResource", resource):
            return PermissionResult.NEUTRAL
        return PermissionResult.PERMITTED if allow else PermissionResult.DENIED

    setattr(IAMPolicyStatement, "is_action_permitted", is_action_permitted)  # noqa: B010
    _applied = True
