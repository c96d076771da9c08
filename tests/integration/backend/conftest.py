"""Fixtures for state-backend integration tests: a moto server and real `terraform` stacks.

The stacks use only Terraform's built-in `terraform_data` resource, so no provider has to be
installed or started: what these tests exercise is the S3 backend itself (state objects,
versions, the S3 lockfile and the DynamoDB lock and digest items) against the emulator.

The emulator is the sandbox's own (`runnerfleet.strictaws`: moto behind the strict layer, which
lets one request at a time into moto), with IAM off since these tests are about the backend, not
about permissions. A plain ThreadedMotoServer once failed a fresh table's first lock with
ConditionalCheckFailed (PutItem answered 200, then a second PutItem 400), which AWS does not
do. Every stack logs at DEBUG to its own `tf.log`; when a test fails, the AWS SDK's retry and
error lines of those logs are printed with the report, so such a failure names its cause.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from runnerfleet.backend import bootstrap
from runnerfleet.strictaws.server import start_strict_server
from runnerfleet.terraform import Binary, Terraform, find_binary

REGION = "us-east-1"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Environment of the terraform processes: dummy credentials, and nothing from the caller's AWS
# setup that could send them elsewhere (an empty value makes runnerfleet's Terraform unset it).
TF_ENV = {
    **CREDS,
    "AWS_PROFILE": "",
    "AWS_SESSION_TOKEN": "",
    "AWS_ENDPOINT_URL": "",
    "AWS_EC2_METADATA_DISABLED": "true",
}

MAIN_TF = """
terraform {
  required_version = ">= 1.10"
  backend "s3" {}
}

variable "names" {
  type        = list(string)
  description = "One terraform_data resource per name."
  default     = []
}

variable "run" {
  type        = string
  description = "Changing it replaces terraform_data.slow (and runs its provisioner)."
  default     = ""
}

variable "wait_for" {
  type        = string
  description = "When set, the provisioner of terraform_data.slow waits until this file exists."
  default     = ""
}

resource "terraform_data" "item" {
  for_each = toset(var.names)
  input    = each.key
}

resource "terraform_data" "slow" {
  count            = var.wait_for == "" ? 0 : 1
  triggers_replace = var.run

  provisioner "local-exec" {
    command = <<-EOT
      i=0
      while [ ! -e '${var.wait_for}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
    EOT
  }
}
"""


@dataclass
class Emulator:
    endpoint: str

    def client(self, service: str) -> Any:
        # boto3-stubs types client() per literal service name; this one is a variable
        return boto3.client(  # type: ignore[call-overload]
            service, region_name=REGION, endpoint_url=self.endpoint, **_boto_creds()
        )


def _boto_creds() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def backend_emulator() -> Iterator[Emulator]:
    url, stop = start_strict_server(enforce_iam=False)
    try:
        yield Emulator(url)
    finally:
        stop()


@pytest.fixture(scope="session")
def tf_binary() -> Binary:
    # find_binary raises with a clear message when terraform is missing: the test then fails.
    return find_binary()


@dataclass
class StateBackend:
    """One bootstrapped backend (bucket + table) in the emulator and one state key in it."""

    emulator: Emulator
    bucket: str
    table: str
    key: str
    binary: Binary
    root: Path
    stacks: list[Path] = field(default_factory=list)

    @property
    def s3(self) -> Any:
        return self.emulator.client("s3")

    @property
    def dynamodb(self) -> Any:
        return self.emulator.client("dynamodb")

    def backend_config(self) -> str:
        ep = self.emulator.endpoint
        settings = {
            "bucket": self.bucket,
            "key": self.key,
            "region": REGION,
            "encrypt": True,
            "use_lockfile": True,
            "dynamodb_table": self.table,
            "use_path_style": True,
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
            "access_key": CREDS["AWS_ACCESS_KEY_ID"],
            "secret_key": CREDS["AWS_SECRET_ACCESS_KEY"],
        }
        lines = [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
        lines.append(f"endpoints = {{ s3 = {json.dumps(ep)}, dynamodb = {json.dumps(ep)} }}")
        return "\n".join(lines) + "\n"

    def stack(self, name: str) -> Terraform:
        """A working folder with the test stack, initialised against this backend."""
        work = self.root / name
        work.mkdir()
        (work / "main.tf").write_text(MAIN_TF)
        (work / "backend.tfbackend").write_text(self.backend_config())
        cli_config = self.root / "terraform.rc"
        cli_config.write_text("# no providers needed: the stack uses terraform_data only\n")
        env = {**TF_ENV, "TF_LOG": "DEBUG", "TF_LOG_PATH": str(work / "tf.log")}
        tf = Terraform(work, binary=self.binary, cli_config=cli_config, env=env)
        self.stacks.append(work)  # before init: its log too is reported on a failure
        tf.init(work / "backend.tfbackend")
        return tf

    def start_apply(self, tf: Terraform, *var_args: str) -> subprocess.Popen[str]:
        """Start `terraform apply` (no lock wait) in the background, in its own process group."""
        argv = [tf.binary.path, "apply", "-no-color", "-input=false", "-auto-approve"]
        argv += ["-lock-timeout=0s", *var_args]
        return subprocess.Popen(
            argv,
            cwd=tf.workdir,
            env=tf.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # so a kill takes its provisioner shell too
        )


@pytest.fixture
def state_backend(backend_emulator: Emulator, tf_binary: Binary, tmp_path: Path) -> StateBackend:
    suffix = uuid.uuid4().hex[:10]
    sb = StateBackend(
        emulator=backend_emulator,
        bucket=f"rf-it-{suffix}",
        table=f"rf-it-lock-{suffix}",
        key="it/terraform.tfstate",
        binary=tf_binary,
        root=tmp_path,
    )
    bootstrap(sb.s3, sb.dynamodb, bucket=sb.bucket, table=sb.table, region=REGION)
    return sb


# A retried request (the SDK's amz-sdk-request header counts attempts), a failed one, an error.
_SDK_LINE = re.compile(r"attempt=(?!1;)\d+|request failed with (?!unretryable)|\[ERROR\]")


def sdk_trouble(stacks: list[Path], limit: int = 40) -> str:
    """The AWS SDK's retry and failed-request lines of the stacks' DEBUG logs (the last few)."""
    lines: list[str] = []
    for work in stacks:
        log = work / "tf.log"
        if log.exists():
            text = log.read_text(errors="replace")
            hits = [ln for ln in text.splitlines() if _SDK_LINE.search(ln)]
            lines += [f"{work.name}: {ln[:400]}" for ln in hits]
    return "\n".join(lines[-limit:]) or "(no retry or failed-request line in the stacks' logs)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    sb = getattr(item, "funcargs", {}).get("state_backend")
    if report.failed and isinstance(sb, StateBackend):
        report.sections.append(("AWS SDK lines of terraform's logs", sdk_trouble(sb.stacks)))
    return report
