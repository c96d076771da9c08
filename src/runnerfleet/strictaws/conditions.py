"""IAM policy Condition blocks, evaluated as AWS does for the keys the sandbox knows.

moto evaluates only `StringEquals` and treats every other operator as matching, and when a
statement's condition does not match it answers DENIED whatever the statement's Effect. So the
TLS-only bucket policy (`Deny s3:*` when `Bool aws:SecureTransport = false`) denied every
object call in the sandbox, where AWS (always over HTTPS for the SDKs) allows them.

Here a condition decides whether its statement applies at all. Known keys: the request
context the sandbox stands in for (`aws:SecureTransport` = "true": real clients use HTTPS)
plus the values moto passes (e.g. sts:ExternalId). For a key the sandbox cannot know (tags,
source VPC, principal org) or an operator it does not evaluate, the condition counts as met in
an Allow statement and unmet in a Deny statement: the sandbox never refuses on a condition it
cannot evaluate (actions stay enforced).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

SANDBOX_CONTEXT = {"aws:securetransport": "true"}


def _values(expected: Any) -> list[str]:
    items = expected if isinstance(expected, list) else [expected]
    return [str(v) for v in items]


def _operator_holds(operator: str, expected: list[str], actual: str) -> bool | None:
    """True/False for the operators evaluated here; None for the others."""
    if operator == "Bool":
        return actual.lower() in {v.lower() for v in expected}
    if operator == "StringEquals":
        return actual in expected
    if operator == "StringNotEquals":
        return actual not in expected
    if operator == "StringEqualsIgnoreCase":
        return actual.lower() in {v.lower() for v in expected}
    if operator == "StringLike":
        return any(fnmatch.fnmatchcase(actual, v) for v in expected)
    if operator == "StringNotLike":
        return not any(fnmatch.fnmatchcase(actual, v) for v in expected)
    return None


def conditions_hold(
    condition: Mapping[str, Any] | None, allow: bool, incoming: Mapping[str, str] | None = None
) -> bool:
    """Whether a statement's Condition block is met (see the module docstring)."""
    if not condition:
        return True
    context = dict(SANDBOX_CONTEXT)
    context.update({k.lower(): str(v) for k, v in (incoming or {}).items()})
    for raw_operator, tests in condition.items():
        if ":" in raw_operator or not isinstance(tests, Mapping):  # ForAnyValue:/ForAllValues:
            if not allow:
                return False
            continue
        operator = raw_operator.removesuffix("IfExists")
        for key, expected in tests.items():
            actual = context.get(str(key).lower())
            if actual is None:
                if raw_operator.endswith("IfExists"):
                    continue
                if not allow:
                    return False
                continue
            held = _operator_holds(operator, _values(expected), actual)
            if held is None:
                held = allow
            if not held:
                return False
    return True
