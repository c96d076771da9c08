"""Fixtures for the GitHub tests: a virtual clock, a validating emulator and clients.

Every client built here talks through runnerfleet.github.spec.ValidatingTransport, so each
request it sends and each response the emulator returns is checked against GitHub's
OpenAPI description; the emulator also checks its own responses and webhook bodies. A
violation fails the call at once, and teardown asserts none were recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from github_fakes import BOTH_KINDS, FakeClock, MakeClient

from runnerfleet.github.client import AppAuth, GitHubClient, TokenAuth
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.spec import ValidatingTransport
from runnerfleet.github.tls import shared_ssl_context


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[GitHubEmulator]:
    emu = GitHubEmulator(clock=clock, validate=True, webhook_secret="emulator-secret")
    emu.start()
    # "acme" grants both kinds' permissions, so tests can use org and repo runners there;
    # the permission tests (test_github_permissions.py) install owners of their own.
    emu.add_installation("acme", permissions=BOTH_KINDS)
    yield emu
    emu.stop()
    assert emu.spec_violations == [], "\n".join(emu.spec_violations)


@pytest.fixture
def make_client(emulator: GitHubEmulator, clock: FakeClock) -> Iterator[MakeClient]:
    made: list[tuple[GitHubClient, ValidatingTransport]] = []

    def make(auth: AppAuth | TokenAuth | None = None, **kwargs: Any) -> GitHubClient:
        inner = httpx.HTTPTransport(verify=shared_ssl_context())
        transport = ValidatingTransport(inner, emulator.url)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sleep", clock.sleep)
        client = GitHubClient(
            emulator.url,
            auth or AppAuth(emulator.app_id, emulator.app_private_key_pem),
            transport=transport,
            **kwargs,
        )
        made.append((client, transport))
        return client

    yield make
    for client, transport in made:
        client.close()
        assert transport.violations == [], "\n".join(transport.violations)


@pytest.fixture
def client(make_client: MakeClient) -> GitHubClient:
    return make_client()
