"""Clients of the strict emulator's sandbox endpoints, for the sandbox runtime and tests.

`assume` gives the credentials a Lambda function or an EC2 host gets from its role (the role's
trust policy must name the service, as in AWS); `register_lifecycle_action` makes a lifecycle
action active when the sandbox delivers an Auto Scaling lifecycle event, so the token in that
event can be completed; `lifecycle_actions` lists active and completed ones.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import httpx

LAMBDA = "lambda.amazonaws.com"
EC2 = "ec2.amazonaws.com"


class StrictAwsError(Exception):
    """The strict emulator refused a sandbox request (message says why)."""


@dataclass(frozen=True)
class AssumedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: str
    arn: str

    def env(self) -> dict[str, str]:
        """The AWS_* variables a process running with these credentials needs."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@functools.cache
def _http() -> httpx.Client:
    """One client per process (thread-safe, keeps its connections): `httpx.post` builds a
    client, and with it an SSL context, on every call (a host boot's largest CPU cost in
    the sandbox's supervisor)."""
    return httpx.Client(timeout=30)


def _post(endpoint: str, route: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = _http().post(f"{endpoint.rstrip('/')}/_strictaws/{route}", json=payload)
    data: dict[str, Any] = response.json()
    if response.status_code != 200:
        raise StrictAwsError(str(data.get("message", response.text)))
    return data


def assume(
    role_arn: str,
    *,
    endpoint: str,
    service: str = LAMBDA,
    session_name: str | None = None,
    region: str = "us-east-1",
    duration_seconds: int = 3600,
) -> AssumedCredentials:
    """sts:AssumeRole of `role_arn` by `service` (lambda/ec2.amazonaws.com) in the sandbox."""
    data = _post(
        endpoint,
        "assume-role",
        {
            "RoleArn": role_arn,
            "Service": service,
            "Region": region,
            "RoleSessionName": session_name or service.split(".")[0],
            "DurationSeconds": duration_seconds,
        },
    )
    c = data["Credentials"]
    return AssumedCredentials(
        c["AccessKeyId"],
        c["SecretAccessKey"],
        c["SessionToken"],
        c["Expiration"],
        c["AssumedRoleArn"],
    )


def register_lifecycle_action(
    endpoint: str, group: str, hook: str, instance_id: str, token: str | None = None
) -> str:
    """Make a lifecycle action active (as AWS does when the hook fires); returns its token."""
    payload = {"AutoScalingGroupName": group, "LifecycleHookName": hook, "InstanceId": instance_id}
    if token:
        payload["LifecycleActionToken"] = token
    return str(_post(endpoint, "lifecycle-actions", payload)["LifecycleActionToken"])


def lifecycle_actions(endpoint: str) -> dict[str, list[dict[str, Any]]]:
    """{"active": [...], "completed": [...]}: each with group, hook, instance_id, token, result."""
    response = _http().get(f"{endpoint.rstrip('/')}/_strictaws/lifecycle-actions")
    response.raise_for_status()
    data: dict[str, list[dict[str, Any]]] = response.json()
    return data
