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
