"""What the sandbox reads from Terraform's state: functions, URLs, rules, permissions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runnerfleet.sandboxrt.functions import FunctionSpec, Stack, stack_from_state

ARN = "arn:aws:lambda:us-east-1:123456789012:function"


def _res(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """A resource as `terraform state pull` (format 4) holds it."""
    return {
        "module": "module.control_plane",
        "mode": "managed",
        "type": kind,
        "name": "x",
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [{"schema_version": 0, "attributes": values}],
    }


STATE: dict[str, Any] = {
    "version": 4,
    "terraform_version": "1.11.4",
    "resources": [
        _res(
            "aws_lambda_function",
            {
                "function_name": "f-webhook",
                "arn": f"{ARN}:f-webhook",
                "handler": "runnerfleet.controlplane.entrypoints.webhook",
                "runtime": "python3.12",
                "role": "arn:aws:iam::1:role/f-webhook",
                "filename": "/tmp/cp.zip",
                "timeout": 30,
                "memory_size": 256,
                "source_code_hash": "abc",
                "environment": [{"variables": {"RUNNERFLEET_NAME": "f"}}],
            },
        ),
        _res(
            "aws_lambda_function_url",
            {
                "function_name": "f-webhook",
                "function_url": "https://abc.lambda-url.us-east-1.on.aws/",
            },
        ),
        _res(
            "aws_lambda_permission",
            {
                "function_name": "f-webhook",
                "action": "lambda:InvokeFunctionUrl",
                "principal": "*",
            },
        ),
        _res(
            "aws_cloudwatch_event_rule",
            {
                "name": "f-reconcile",
                "arn": "arn:aws:events:::rule/f-reconcile",
                "schedule_expression": "rate(1 minute)",
                "state": "ENABLED",
            },
        ),
        _res(
            "aws_cloudwatch_event_rule",
            {
                "name": "f-state",
                "arn": "arn:aws:events:::rule/f-state",
                "event_pattern": json.dumps({"source": ["aws.ec2"]}),
            },
        ),
        _res(
            "aws_cloudwatch_event_target",
            {
                "rule": "f-state",
                "arn": f"{ARN}:f-webhook",
                "target_id": "t",
            },
        ),
        _res(
            "aws_lambda_permission",
            {
                "function_name": "f-webhook",
                "action": "lambda:InvokeFunction",
                "principal": "events.amazonaws.com",
                "source_arn": "arn:aws:events:::rule/f-state",
            },
        ),
    ],
}


def test_stack_from_state_reads_every_runnable_part() -> None:
    stack = stack_from_state(STATE)
    (fn,) = stack.functions
    assert fn.handler == "runnerfleet.controlplane.entrypoints.webhook"
    assert fn.python_version == "3.12" and fn.environment == {"RUNNERFLEET_NAME": "f"}
    assert (fn.timeout, fn.memory, fn.package) == (30, 256, "/tmp/cp.zip")
    assert stack.url_function() == fn
    rules = {r.name: r for r in stack.rules}
    assert rules["f-reconcile"].schedule == "rate(1 minute)"
    assert rules["f-state"].event_pattern == {"source": ["aws.ec2"]}
    assert rules["f-state"].targets[0].arn == f"{ARN}:f-webhook"
    assert stack.function(f"{ARN}:f-webhook") == fn


def test_resource_policy_is_checked_like_lambda_does() -> None:
    stack = stack_from_state(STATE)
    assert stack.allows("f-webhook", "lambda:InvokeFunctionUrl", "*")
    rule = "arn:aws:events:::rule/f-state"
    assert stack.allows("f-webhook", "lambda:InvokeFunction", "events.amazonaws.com", rule)
    other = "arn:aws:events:::rule/other"
    assert not stack.allows("f-webhook", "lambda:InvokeFunction", "events.amazonaws.com", other)


def test_stack_round_trips_through_json() -> None:
    stack = stack_from_state(STATE)
    assert Stack.from_json(stack.to_json()) == stack


def test_a_non_python_runtime_is_refused_naming_it() -> None:
    fn = FunctionSpec("f", "arn", "index.handler", "nodejs20.x", "role", "pkg.zip")
    with pytest.raises(ValueError, match=r"nodejs20\.x"):
        _ = fn.python_version


def test_a_deposed_object_is_not_run_and_an_empty_state_has_nothing() -> None:
    current = _res("aws_lambda_function", {**_function_values(), "function_name": "new"})
    old = {"schema_version": 0, "deposed": "00a1b2c3", "attributes": _function_values()}
    current["instances"].append(old)
    stack = stack_from_state({"version": 4, "resources": [current]})
    assert [f.name for f in stack.functions] == ["new"]
    assert stack_from_state({}).functions == ()


def test_a_state_of_another_format_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="format 3"):
        stack_from_state({"version": 3, "modules": []})


def _function_values() -> dict[str, Any]:
    (fn,) = [
        r["instances"][0]["attributes"]
        for r in STATE["resources"]
        if r["type"] == "aws_lambda_function"
    ]
    return dict(fn)
