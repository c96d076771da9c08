"""`runnerfleet-agent` (`python -m runnerfleet.agent`): the systemd service's entry point on a
runner host. AWS_EC2_METADATA_SERVICE_ENDPOINT (the SDKs' own variable) points it at another
metadata service; AWS_ENDPOINT_URL (boto3's) at another AWS endpoint (the sandbox)."""

from __future__ import annotations

import logging
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from runnerfleet import __version__
from runnerfleet.agent.logsafe import configure_stderr, logger


def wait_for_credentials(
    session: Any,
    stop: threading.Event,
    log: logging.Logger,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Wait until the session finds the instance role's credentials (IMDS).

    The SDK asks IMDS once, with a 1 s timeout, when a client is made; a client made while
    IMDS is slow or not ready (early boot, a loaded host) has no credentials and never signs
    a request again. So the clients are made only once the credentials are there (botocore
    caches them, and refreshes them before they expire). False on stop or after `timeout`."""
    deadline = clock() + timeout
    delay = 1.0
    while not stop.is_set():
        if session.get_credentials() is not None:
            return True
        if clock() >= deadline:
            return False
        log.info("instance role credentials not available yet (IMDS); retrying in %.0f s", delay)
        stop.wait(delay)
        delay = min(delay * 2, 30.0)
    return False


def main() -> int:
    """Build the real clients from the host's environment and run the agent once."""
    import boto3

    from runnerfleet.agent.agent import Agent, AgentFailed
    from runnerfleet.agent.decisions import State
    from runnerfleet.agent.imds import DEFAULT_ENDPOINT, ImdsClient
    from runnerfleet.agent.launcher import SubprocessLauncher
    from runnerfleet.agent.settings import AgentSettings, SettingsError

    configure_stderr()
    log = logger()
    log.info(
        "runnerfleet-agent %s on Python %s (%s)",
        __version__,
        platform.python_version(),
        sys.prefix,
    )
    try:
        settings = AgentSettings.from_env(os.environ)
    except SettingsError as exc:
        log.error("%s", exc)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: draining", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    session = boto3.session.Session(region_name=settings.region)
    if not wait_for_credentials(session, stop, log, settings.registration_timeout):
        if stop.is_set():
            return 0
        log.error(
            "no instance role credentials from IMDS after %.0f s: check the instance "
            "profile of this host's launch template",
            settings.registration_timeout,
        )
        return 1
    agent = Agent(
        settings=settings,
        ssm=session.client("ssm"),
        ec2=session.client("ec2"),
        autoscaling=session.client("autoscaling"),
        imds=ImdsClient(os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_ENDPOINT),
        launcher=SubprocessLauncher(settings.runner_dir, user=settings.runner_user),
        stop_event=stop,
    )
    try:
        final = agent.run()
    except AgentFailed as exc:
        log.error("%s", exc)
        return 1
    log.info("agent finished in state %s", final.value)
    return 1 if final is State.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
