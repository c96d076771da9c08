"""Helpers for the strict-layer tests: error codes out of botocore, roles, a tiny Lambda zip."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def error_of(call: Callable[[], Any]) -> tuple[str, str, int]:
    """(code, message, HTTP status) of the ClientError that `call` raises."""
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return (
        err["Error"]["Code"],
        err["Error"]["Message"],
        err["ResponseMetadata"]["HTTPStatusCode"],
    )


def policy(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


def make_role(iam: Any, name: str, *actions: str) -> str:
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))[
        "Role"
    ]["Arn"]
    if actions:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=policy(*actions))
    return arn


def lambda_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()
