"""Unsigned sts:AssumeRoleWithWebIdentity, answered as STS answers it (moto alone: HTTP 500 on
the missing Authorization header): the token is checked against the account's OIDC provider
and the role's trust policy, and a refusal has AWS's code, message and HTTP status."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from strict_support import error_of

pytestmark = pytest.mark.emulator

ISSUER = "https://token.actions.githubusercontent.com"
HOST = "token.actions.githubusercontent.com"
SUBJECT = "repo:acme/fleet:pull_request"


def _b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def token(**claims: Any) -> str:
    payload = {
        "iss": ISSUER,
        "aud": "sts.amazonaws.com",
        "sub": SUBJECT,
        "exp": int(time.time()) + 600,
    } | claims
    return f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(payload)}.c2ln"


@pytest.fixture(scope="module")
def role(admin: boto3.Session, endpoint: str) -> str:
    iam = admin.client("iam", endpoint_url=endpoint)
    provider = iam.create_open_id_connect_provider(
        Url=ISSUER, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )["OpenIDConnectProviderArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": SUBJECT}
                },
            }
        ],
    }
    arn: str = iam.create_role(RoleName="wi-plan", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    return arn


def _sts(endpoint: str) -> Any:
    config = Config(signature_version=UNSIGNED)
    return boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", config=config)


def _assume(endpoint: str, role: str, web_token: str) -> Any:
    return _sts(endpoint).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="plan", WebIdentityToken=web_token
    )


def test_a_valid_token_gives_the_roles_credentials(endpoint: str, role: str) -> None:
    found = _assume(endpoint, role, token())
    assert found["SubjectFromWebIdentityToken"] == SUBJECT
    assert found["Provider"] == ISSUER
    creds = found["Credentials"]
    caller = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).get_caller_identity()
    assert caller["Arn"] == "arn:aws:sts::123456789012:assumed-role/wi-plan/plan"


def test_tokens_sts_refuses(endpoint: str, role: str) -> None:
    def refusal(web_token: str) -> tuple[str, str, int]:
        return error_of(lambda: _assume(endpoint, role, web_token))

    code, message, status = refusal("github-oidc-token")
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert message.startswith("The ID Token provided is not a valid JWT.")
    assert refusal(token(iss="https://issuer.example")) == (
        "InvalidIdentityToken",
        "No OpenIDConnect provider found in your account for https://issuer.example",
        400,
    )
    assert refusal(token(aud="sigstore")) == (
        "InvalidIdentityToken",
        "Incorrect token audience",
        400,
    )
    code, message, status = refusal(token(exp=int(time.time()) - 60))
    assert (code, status) == ("ExpiredTokenException", 400)
    assert message.startswith("Token expired: current date/time ")
    # the trust policy names another subject: AWS answers AccessDenied (403)
    assert refusal(token(sub="repo:acme/other:ref:refs/heads/main")) == (
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        403,
    )
    code, _, status = error_of(
        lambda: _sts(endpoint).assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/wi-none",
            RoleSessionName="plan",
            WebIdentityToken=token(),
        )
    )
    assert (code, status) == ("AccessDenied", 403)


def test_other_unsigned_calls_are_refused_not_crashed(endpoint: str) -> None:
    """moto answered every unsigned call with HTTP 500; AWS refuses it for the missing token."""
    config = Config(signature_version=UNSIGNED)
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", config=config)
    assert error_of(sts.get_caller_identity) == (
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
        403,
    )
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1", config=config)
    assert error_of(lambda: ssm.get_parameter(Name="/x")) == (
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
        400,
    )
