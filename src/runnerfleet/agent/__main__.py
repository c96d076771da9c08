"""`python -m runnerfleet.agent`: the systemd service's entry point on a runner host."""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

from runnerfleet.agent.logsafe import configure_stderr, logger


def main() -> int:
    """Build the real clients from the host's environment and run the agent once."""
    import boto3

    from runnerfleet.agent.agent import Agent, AgentFailed
    from runnerfleet.agent.decisions import State
    from runnerfleet.agent.imds import ImdsClient
    from runnerfleet.agent.launcher import SubprocessLauncher
    from runnerfleet.agent.settings import AgentSettings, SettingsError

    configure_stderr()
    log = logger()
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
    agent = Agent(
        settings=settings,
        ssm=session.client("ssm"),
        ec2=session.client("ec2"),
        autoscaling=session.client("autoscaling"),
        imds=ImdsClient(),
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
