"""The agent's entry point waits for the instance role's credentials before it makes clients.

A boto3 client made while IMDS does not answer in time has no credentials and never gets any
(the CI failure: a sandbox host under load logged 'Unable to locate credentials' for 10 min).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import NoCredentialsError

from runnerfleet.agent.__main__ import wait_for_credentials

LOG = logging.getLogger("test")


class Session:
    """`get_credentials()` answers None until the n-th call, as a slow IMDS does."""

    def __init__(self, ready_after: int) -> None:
        self.calls = 0
        self.ready_after = ready_after

    def get_credentials(self) -> Any:
        self.calls += 1
        return object() if self.calls > self.ready_after else None


class Stop(threading.Event):
    """A stop event whose waits move a fake clock instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        self.now += float(timeout or 0)
        return self.is_set()


def test_a_client_made_without_credentials_never_signs_even_once_they_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why the wait exists: botocore resolves credentials when the client is made."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = boto3.session.Session(region_name="us-east-1")
    client = session.client("ssm", endpoint_url="http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with pytest.raises(NoCredentialsError):
        client.get_parameter(Name="/x")


def test_waits_with_backoff_until_the_credentials_come() -> None:
    stop, session = Stop(), Session(ready_after=4)
    assert wait_for_credentials(session, stop, LOG, timeout=600, clock=lambda: stop.now)
    assert session.calls == 5
    assert stop.waits == [1.0, 2.0, 4.0, 8.0]


def test_gives_up_after_the_timeout_and_on_stop() -> None:
    stop, session = Stop(), Session(ready_after=10**9)
    assert not wait_for_credentials(session, stop, LOG, timeout=100, clock=lambda: stop.now)
    assert stop.now >= 100 and max(stop.waits) == 30.0
    stopped = Stop()
    stopped.set()
    assert not wait_for_credentials(Session(0), stopped, LOG, timeout=100)
