"""SSM access for the registrar: one-shot runner registrations and the GitHub credentials.

- `/<name>/runners/<instance-id>`: SecureString, written once per instance, deleted by the agent.
  Standard tier up to 4,096 bytes, Advanced above (GitHub's JIT configs are larger), refused
  above Advanced's 8,192. Tagged `runnerfleet:instance-id = <instance-id>`: the hosts' IAM
  policy lets an instance read and delete a parameter only when this tag names itself.
- `/<name>/github/*`: the GitHub App (`app-id`, `private-key`, optional `installation-id`) or a
  token (`token`), readable only by the control plane's role. A Secrets Manager secret holding
  the same keys as JSON may be used instead (`secret_id`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from runnerfleet.agent.registration import parameter_name
from runnerfleet.github.auth import AppAuth, TokenAuth

PLACEHOLDER = "REPLACE_ME"

# SSM parameter value limits per tier (bytes; AWS says 4 KB and 8 KB).
STANDARD_TIER_LIMIT = 4096
ADVANCED_TIER_LIMIT = 8192
# The tag the hosts' IAM policy compares with the calling instance (runner-fleet iam.tf).
INSTANCE_TAG = "runnerfleet:instance-id"


class RegistrationTooLarge(ValueError):
    """A registration exceeds what any SSM parameter tier holds."""


def tier_for(value: str) -> str:
    """`Standard` up to 4,096 bytes, `Advanced` up to 8,192; larger values are refused."""
    size = len(value.encode("utf-8"))
    if size <= STANDARD_TIER_LIMIT:
        return "Standard"
    if size <= ADVANCED_TIER_LIMIT:
        return "Advanced"
    raise RegistrationTooLarge(
        f"registration is {size} bytes; SSM parameters hold at most {ADVANCED_TIER_LIMIT} "
        "(Advanced tier). Shorten the runner labels or name, which GitHub embeds in the JIT "
        "config"
    )


class CredentialsError(RuntimeError):
    """GitHub credentials are missing or malformed; the message says which and how to set them."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class StoredParameter:
    """A registration parameter that exists (its value is not read)."""

    instance_id: str
    last_modified: datetime | None


@dataclass
class RegistrationStore:
    """The `/<name>/runners/` parameters."""

    ssm: Any
    prefix: str
    kms_key_id: str | None = None

    def name_for(self, instance_id: str) -> str:
        return parameter_name(self.prefix, instance_id)

    def put(self, instance_id: str, value: str) -> bool:
        """Create the parameter; False if it already exists (never overwritten).

        The tier follows the size (`tier_for`; RegistrationTooLarge above 8,192 bytes, before
        any request), and the parameter is tagged with the instance it belongs to."""
        args: dict[str, Any] = {
            "Name": self.name_for(instance_id),
            "Value": value,
            "Type": "SecureString",
            "Tier": tier_for(value),
            "Overwrite": False,
            "Description": f"one-shot runner registration for {instance_id} (runnerfleet)",
            "Tags": [{"Key": INSTANCE_TAG, "Value": instance_id}],
        }
        if self.kms_key_id:
            args["KeyId"] = self.kms_key_id
        try:
            self.ssm.put_parameter(**args)
        except ClientError as exc:
            if _code(exc) == "ParameterAlreadyExists":
                return False
            raise
        return True

    def delete(self, instance_id: str) -> bool:
        """Delete the parameter; False if it was not there."""
        try:
            self.ssm.delete_parameter(Name=self.name_for(instance_id))
        except ClientError as exc:
            if _code(exc) == "ParameterNotFound":
                return False
            raise
        return True

    def list(self) -> list[StoredParameter]:
        """Every registration parameter under the prefix (names and dates only)."""
        out: list[StoredParameter] = []
        paginator = self.ssm.get_paginator("describe_parameters")
        filters = [{"Key": "Path", "Option": "OneLevel", "Values": [self.prefix.rstrip("/")]}]
        for page in paginator.paginate(ParameterFilters=filters):
            for p in page.get("Parameters", []):
                instance_id = str(p["Name"]).rsplit("/", 1)[-1]
                out.append(StoredParameter(instance_id, p.get("LastModifiedDate")))
        return out


def load_github_auth(
    *, ssm: Any, name: str, secrets: Any = None, secret_id: str | None = None
) -> AppAuth | TokenAuth:
    """Read the control plane's GitHub credentials (App preferred, token otherwise)."""
    if secret_id:
        if secrets is None:
            raise CredentialsError("a Secrets Manager secret id was given but no client")
        try:
            raw = secrets.get_secret_value(SecretId=secret_id)["SecretString"]
            data = json.loads(raw)
        except (ClientError, KeyError, json.JSONDecodeError) as exc:
            raise CredentialsError(
                f"cannot read GitHub credentials from secret {secret_id}: {type(exc).__name__}; "
                'store JSON like {"app_id": "...", "private_key": "-----BEGIN ...", '
                '"installation_id": 123} or {"token": "..."}'
            ) from None
        values = {k.replace("_", "-"): str(v) for k, v in data.items() if v is not None}
    else:
        base = f"/{name}/github"
        values = {}
        paginator = ssm.get_paginator("get_parameters_by_path")
        try:
            for page in paginator.paginate(Path=base, WithDecryption=True):
                for p in page.get("Parameters", []):
                    values[str(p["Name"]).rsplit("/", 1)[-1]] = str(p["Value"])
        except ClientError as exc:
            raise CredentialsError(
                f"cannot read {base}/*: {_code(exc)}; the control plane's role must be allowed "
                "ssm:GetParametersByPath and kms:Decrypt on it"
            ) from None
    values = {k: v for k, v in values.items() if v and v != PLACEHOLDER}
    if "app-id" in values and "private-key" in values:
        inst = values.get("installation-id")
        return AppAuth(
            app_id=values["app-id"],
            private_key_pem=values["private-key"],
            installation_id=int(inst) if inst else None,
        )
    if "token" in values:
        return TokenAuth(values["token"])
    raise CredentialsError(
        f"no GitHub credentials under /{name}/github: set app-id and private-key (GitHub App, "
        f"preferred) or token, e.g. aws ssm put-parameter --name /{name}/github/private-key "
        "--type SecureString --value file://app.pem --overwrite"
    )
