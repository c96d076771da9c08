"""The sandbox's GitHub side (controlplane/sandbox.py): credentials land in SSM, the App is
installed on the fleet's owner, and a configured organization runner group exists, so the
registrar can resolve it by name as it does on GitHub."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runnerfleet.config import FleetConfig
from runnerfleet.controlplane.sandbox import publish_github_credentials
from runnerfleet.github.emulator import GitHubEmulator


@dataclass
class FakeSandbox:
    info: dict[str, Any]

    def github_info(self) -> dict[str, Any]:
        return self.info

    def webhook_secret(self) -> str:
        return "s3cret-webhook"


@dataclass
class FakeTarget:
    sandbox: FakeSandbox

    def client(self, service: str) -> Any:
        # boto3-stubs types client() per literal service name; this one is a variable
        return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]


@pytest.fixture
def emulator() -> Iterator[GitHubEmulator]:
    em = GitHubEmulator("127.0.0.1", 0)
    em.start()
    try:
        yield em
    finally:
        em.stop()


def _info(em: GitHubEmulator) -> dict[str, Any]:
    return {"url": em.url, "app_id": em.app_id, "app_private_key_pem": em.app_private_key_pem}


def _groups(em: GitHubEmulator, owner: str) -> list[str]:
    return sorted(em.world.installations[owner].groups.values())


@pytest.mark.parametrize("group", ["Default", "ci runners"])
def test_the_configured_runner_group_exists_after_publishing(
    emulator: GitHubEmulator, group: str
) -> None:
    cfg = FleetConfig.model_validate(
        {"name": "rfsb", "github": {"owner": "acme", "runner_group": group}}
    )
    with mock_aws():
        target = FakeTarget(FakeSandbox(_info(emulator)))
        publish_github_credentials(cfg, target)
        publish_github_credentials(cfg, target)  # a second `up`: the group exists (409)
        ssm = target.client("ssm")
        stored = ssm.get_parameter(Name="/rfsb/github/webhook-secret", WithDecryption=True)
    assert stored["Parameter"]["Value"] == "s3cret-webhook"
    assert _groups(emulator, "acme") == sorted({"Default", group})


def test_repository_runners_get_no_runner_group(emulator: GitHubEmulator) -> None:
    cfg = FleetConfig.model_validate(
        {"name": "rfsb", "github": {"owner": "acme", "repository": "app", "runner_group": "ci"}}
    )
    with mock_aws():
        publish_github_credentials(cfg, FakeTarget(FakeSandbox(_info(emulator))))
    assert _groups(emulator, "acme") == ["Default"]
