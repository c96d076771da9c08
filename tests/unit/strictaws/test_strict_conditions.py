"""IAM Condition blocks as the sandbox evaluates them: known keys strictly, unknown ones never
against the caller."""

from __future__ import annotations

from runnerfleet.strictaws.conditions import conditions_hold

TLS_ONLY = {"Bool": {"aws:SecureTransport": ["false"]}}


def test_tls_only_deny_does_not_apply_to_sdk_calls() -> None:
    assert conditions_hold(TLS_ONLY, allow=False) is False
    assert conditions_hold({"Bool": {"aws:SecureTransport": "true"}}, allow=False) is True


def test_known_incoming_values_are_compared() -> None:
    cond = {"StringEquals": {"sts:ExternalId": "abc"}}
    assert conditions_hold(cond, allow=True, incoming={"sts:ExternalId": "abc"})
    assert not conditions_hold(cond, allow=True, incoming={"sts:ExternalId": "nope"})
    like = {"StringLike": {"sts:ExternalId": "fleet-*"}}
    assert conditions_hold(like, allow=True, incoming={"sts:ExternalId": "fleet-1"})


def test_unknown_keys_and_operators_never_refuse() -> None:
    tag = {"StringEquals": {"aws:ResourceTag/runnerfleet:fleet": "demo"}}
    assert conditions_hold(tag, allow=True) is True
    assert conditions_hold(tag, allow=False) is False
    odd = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["x"]}}
    assert conditions_hold(odd, allow=True) and not conditions_hold(odd, allow=False)
    exists = {"StringEqualsIfExists": {"aws:RequestTag/x": "y"}}
    assert conditions_hold(exists, allow=False) is True


def test_tags_known_to_be_absent_are_decided() -> None:
    from runnerfleet.strictaws.conditions import ConditionContext

    tag = {"StringEquals": {"aws:ResourceTag/runnerfleet:fleet": "demo"}}
    known = ("aws:resourcetag/",)
    assert conditions_hold(
        tag, True, ConditionContext({"aws:ResourceTag/runnerfleet:fleet": "demo"}, known)
    )
    untagged = ConditionContext({}, known)
    assert not conditions_hold(tag, allow=True, incoming=untagged)
    negated = {"StringNotEquals": {"aws:ResourceTag/runnerfleet:fleet": "demo"}}
    assert conditions_hold(negated, allow=True, incoming=untagged)
    assert conditions_hold({"Null": {"aws:ResourceTag/x": "true"}}, True, untagged)
    assert not conditions_hold({"Null": {"aws:ResourceTag/x": "false"}}, True, untagged)


def test_policy_variables_are_replaced_or_unknown() -> None:
    from runnerfleet.strictaws.conditions import ConditionContext

    cond = {"StringEquals": {"aws:ResourceTag/owner": "${aws:PrincipalTag/team}"}}
    ctx = ConditionContext({"aws:ResourceTag/owner": "a", "aws:PrincipalTag/team": "b"})
    assert not conditions_hold(cond, allow=True, incoming=ctx)
    ctx = ConditionContext({"aws:ResourceTag/owner": "a"})  # the variable is unknown
    assert conditions_hold(cond, allow=True, incoming=ctx)
    assert not conditions_hold(cond, allow=False, incoming=ctx)
