"""Fixtures for host-bootstrap integration tests: a moto server on loopback (shared; tests keep
apart by fleet name), a GitHub emulator per test, and the registrar wired to both. Helpers the
tests import live in hosts_support.py (a conftest is not imported by name).

`strict_aws` is the sandbox's own AWS emulator instead (`python -m runnerfleet.strictaws`, as
`runnerfleet up` starts it: moto behind the layer that refuses what AWS refuses, IAM
enforced; the dummy key is its admin's). A test module that must meet AWS's refusals (the
lifecycles, the registration tiers) overrides `aws` with it."""

from __future__ import annotations

import itertools
import logging
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from hosts_support import OWNER, REPO, Host
from moto.server import ThreadedMotoServer

from runnerfleet.controlplane.claims import MemoryClaims
from runnerfleet.controlplane.registrar import Registrar, RegistrarSettings
from runnerfleet.github.client import GitHubClient, TokenAuth
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.sandbox import Sandbox

REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server for the session. Its EC2 backend is built once, without moto's default
    images (13 s -> 4 s); tests keep apart by using their own fleet name, not by resets."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    saved = os.environ.get("MOTO_EC2_LOAD_DEFAULT_AMIS")
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    try:
        _session().client("ec2", endpoint_url=url).describe_vpcs()
    finally:
        if saved is None:
            os.environ.pop("MOTO_EC2_LOAD_DEFAULT_AMIS", None)
        else:
            os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = saved
    yield url
    server.stop()


@pytest.fixture(scope="session")
def aws(moto_url: str) -> Callable[[str], Any]:
    """Clients for the shared moto server, made once per service (client creation is slow)."""
    session = _session()
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, endpoint_url=moto_url)  # type: ignore[call-overload]
        return made[service]

    return client


@pytest.fixture(scope="module")
def strict_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sandbox's strict AWS emulator process, one per test module."""
    box = Sandbox(Path(tmp_path_factory.mktemp("strictaws")) / ".runnerfleet", region=REGION)
    box.start(with_github=False)
    try:
        yield box.endpoint
    finally:
        box.stop()


@pytest.fixture(scope="module")
def strict_aws(strict_url: str) -> Callable[[str], Any]:
    """Clients for the strict emulator (the sandbox's admin key), made once per service."""
    session = _session()
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, endpoint_url=strict_url)  # type: ignore[call-overload]
        return made[service]

    return client


_FLEETS = itertools.count(1)


@pytest.fixture
def fleet() -> str:
    """A fleet name of this test's own (the moto server is shared)."""
    return f"rf{next(_FLEETS)}x"


@pytest.fixture
def emulator() -> Iterator[GitHubEmulator]:
    emu = GitHubEmulator()
    emu.start()
    emu.add_installation(OWNER)
    yield emu
    emu.stop()


@pytest.fixture
def make_registrar(aws: Callable[[str], Any], emulator: GitHubEmulator) -> Callable[..., Registrar]:
    def make(name: str = "rf", *, ephemeral: bool = False, **kw: Any) -> Registrar:
        settings = RegistrarSettings(
            name=name,
            owner=OWNER,
            repository=REPO,
            github_url=emulator.url,
            api_url=emulator.url,
            ephemeral=ephemeral,
            **kw,
        )
        github = GitHubClient(emulator.url, TokenAuth(emulator.pat), sleep=lambda _s: None)
        return Registrar(
            settings=settings,
            ec2=aws("ec2"),
            ssm=aws("ssm"),
            github=github,
            claims=MemoryClaims(),
            autoscaling=aws("autoscaling"),
        )

    return make


@pytest.fixture
def agent_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="runnerfleet")
    return caplog


@pytest.fixture
def hostdir(tmp_path: Path) -> Path:
    return tmp_path / "hosts"


@pytest.fixture
def hosts(aws: Callable[[str], Any], hostdir: Path, fleet: str) -> Iterator[Callable[..., Host]]:
    made: list[Host] = []

    def make(instance_id: str, **kw: Any) -> Host:
        host = Host(aws, hostdir, fleet, instance_id, **kw)
        made.append(host)
        return host

    yield make
    for host in made:
        host.stop()
