"""Fixtures for the strict AWS layer: the sandbox's own AWS emulator process (as `runnerfleet up`
starts it: `python -m runnerfleet.strictaws`, IAM enforced), shared by the tests of a file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from runnerfleet.sandbox import SANDBOX_ACCESS_KEY, Sandbox

REGION = "us-east-1"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    box = Sandbox(Path(tmp_path_factory.mktemp("strictaws")) / ".runnerfleet", region=REGION)
    box.start(with_github=False)
    try:
        yield box.endpoint
    finally:
        box.stop()


@pytest.fixture(scope="module")
def admin(endpoint: str) -> boto3.Session:
    """The sandbox's admin credentials (the dummy key the CLI and Terraform use)."""
    return boto3.Session(
        aws_access_key_id=SANDBOX_ACCESS_KEY,
        aws_secret_access_key=SANDBOX_ACCESS_KEY,
        region_name=REGION,
    )
