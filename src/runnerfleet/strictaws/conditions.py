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

A context may answer some key prefixes in full (`ConditionContext.known`): the resource's tags
(`aws:ResourceTag/`, `ec2:ResourceTag/`, ...) when the sandbox knows the resource. There an
absent key is known to be absent, as in AWS: `StringEquals` and the other positive operators
fail, the negated ones (`StringNotEquals`, ...) hold, `Null: true` holds, `...IfExists` skips.
Policy variables in values (`${aws:ResourceTag/x}`, `${ec2:InstanceID}`) are replaced from the
context; one the context lacks makes its test unknown (see above).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

SANDBOX_CONTEXT = {"aws:securetransport": "true"}
NEGATED = frozenset(
    {
        "StringNotEquals",
        "StringNotLike",
        "StringNotEqualsIgnoreCase",
        "ArnNotEquals",
        "ArnNotLike",
        "NumericNotEquals",
    }
)
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class ConditionContext(dict[str, str]):
    """Condition keys (lower case) -> value, and the key prefixes it answers in full."""

    def __init__(self, values: Mapping[str, str] | None = None, known: tuple[str, ...] = ()):
        super().__init__({k.lower(): str(v) for k, v in (values or {}).items()})
        self.known = tuple(p.lower() for p in known)


def _substitute(expected: list[str], context: Mapping[str, str]) -> list[str] | None:
    """Policy variables replaced from the context; None when one of them is unknown."""
    out = []
    for value in expected:
        missing = False

        def sub(match: re.Match[str]) -> str:
            nonlocal missing
            found = context.get(match.group(1).lower())
            if found is None:
                missing = True
                return ""
            return found

        out.append(_VARIABLE.sub(sub, value))
        if missing:
            return None
    return out


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
    if operator in ("ArnLike", "ArnEquals"):
        return any(fnmatch.fnmatchcase(actual, v) for v in expected)
    if operator in ("ArnNotLike", "ArnNotEquals"):
        return not any(fnmatch.fnmatchcase(actual, v) for v in expected)
    if operator == "Null":
        return "false" in {v.lower() for v in expected}
    return None


def conditions_hold(
    condition: Mapping[str, Any] | None, allow: bool, incoming: Mapping[str, str] | None = None
) -> bool:
    """Whether a statement's Condition block is met (see the module docstring)."""
    if not condition:
        return True
    context = dict(SANDBOX_CONTEXT)
    context.update({k.lower(): str(v) for k, v in (incoming or {}).items()})
    known: tuple[str, ...] = getattr(incoming, "known", ())
    for raw_operator, tests in condition.items():
        if ":" in raw_operator or not isinstance(tests, Mapping):  # ForAnyValue:/ForAllValues:
            if not allow:
                return False
            continue
        operator = raw_operator.removesuffix("IfExists")
        for key, expected in tests.items():
            name = str(key).lower()
            actual = context.get(name)
            if actual is None:
                if raw_operator.endswith("IfExists"):
                    continue
                if any(name.startswith(p) for p in known):  # known to be absent
                    if operator == "Null":
                        absent_holds = "true" in {v.lower() for v in _values(expected)}
                    else:
                        absent_holds = operator in NEGATED
                    if not absent_holds:
                        return False
                    continue
                if not allow:
                    return False
                continue
            values = _substitute(_values(expected), context)
            held = None if values is None else _operator_holds(operator, values, actual)
            if held is None:
                held = allow
            if not held:
                return False
    return True
