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
and a statement whose Resource names ARNs never matches "*": every least-privilege policy
(ssm:GetParameter on arn:aws:ssm:...:parameter/fleet/*) would be refused where AWS allows it.
Here an Allow statement matches the unknown resource "*" by its actions alone, and a Deny
statement scoped to ARNs does not (actions are enforced; resource scoping is not, as before).

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

import json
from typing import Any
from urllib.parse import quote, unquote

_applied = False
_BODILESS = ("GET", "HEAD", "DELETE")
IAM_PREFIX = {"monitoring": "cloudwatch"}  # SigV4 signing name -> IAM action prefix


# DynamoDB transactions are not IAM actions: AWS checks each item against the action of
# its kind ("Using IAM with DynamoDB transactions"); moto asks for the operation's name.
TRANSACTION_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def transaction_actions(action: str, body: Any) -> list[str] | None:
    """The IAM actions a DynamoDB transaction needs, or None for any other request."""
    if action not in ("dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"):
        return None
    try:
        doc = json.loads(body) if isinstance(body, str | bytes) else dict(body or {})
    except ValueError:
        return None
    kinds = {k for item in doc.get("TransactItems", []) if isinstance(item, dict) for k in item}
    found = sorted({TRANSACTION_ITEM_ACTIONS[k] for k in kinds if k in TRANSACTION_ITEM_ACTIONS})
    return found or None


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
        actions = transaction_actions(str(self._action), self._body or self._data)
        if actions is None:
            original_check(self, resource)
            return
        whole = self._action
        try:
            for action in actions:  # AWS authorizes each item of a transaction by its kind
                self._action = action
                original_check(self, resource)
        finally:
            self._action = whole

    setattr(IAMRequestBase, "check_action_permitted", check_action_permitted)  # noqa: B010

    from moto.iam.access_control import IAMPolicyStatement

    original_matches = IAMPolicyStatement._check_element_matches

    def _check_element_matches(self: Any, statement_element: Any, value: str) -> bool:
        if statement_element == "Resource" and value == "*":
            return bool(self._statement.get("Effect") == "Allow")
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
        return PermissionResult.PERMITTED if allow else PermissionResult.DENIED

    setattr(IAMPolicyStatement, "is_action_permitted", is_action_permitted)  # noqa: B010
    _applied = True
