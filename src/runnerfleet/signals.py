"""Waiting for SIGINT/SIGTERM in a long-running command (`serve`, the GitHub emulator).

Own handlers, so that a signal ignored by the parent (SIG_IGN is inherited) still stops the
command, and a wait that wakes twice a second, so that the main thread runs them whichever
thread the kernel delivered the signal to (a wait on a bare lock would not wake for it).
"""

from __future__ import annotations

import signal
import threading


def wait_for_signal(stop: threading.Event | None = None) -> None:
    """Block until SIGINT or SIGTERM (or `stop` is set); the previous handlers are restored."""
    stop = stop or threading.Event()

    def _handler(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
