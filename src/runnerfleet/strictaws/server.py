"""The sandbox's AWS emulator process: moto server behind the strict layer, IAM enforced.

`python -m runnerfleet.strictaws -H 127.0.0.1 -p PORT` replaces `python -m moto.server` (same
flags). Before serving it creates the admin user that owns the sandbox's dummy key
(`runnerfleet.sandbox.SANDBOX_ACCESS_KEY`) and turns moto's IAM authorization on for every
request (moto's `INITIAL_NO_AUTH_ACTION_COUNT` = 0), unless `RUNNERFLEET_SANDBOX_IAM=off`.
`start_strict_server` runs the same app on a thread, for tests.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import make_server, run_simple

IAM_ENV = "RUNNERFLEET_SANDBOX_IAM"


def build_app(*, enforce_iam: bool | None = None) -> Any:
    """moto's WSGI app wrapped in `StrictAws`; sets moto's IAM switch for this process."""
    from moto import settings
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from runnerfleet.sandbox import SANDBOX_ACCESS_KEY
    from runnerfleet.strictaws import motofixes
    from runnerfleet.strictaws.middleware import StrictAws

    motofixes.apply()

    if enforce_iam is None:
        enforce_iam = os.environ.get(IAM_ENV, "enforce").strip().lower() != "off"
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if enforce_iam else float("inf")
    inner = DomainDispatcherApplication(create_backend_app)
    return StrictAws(inner, admin_key=(SANDBOX_ACCESS_KEY, SANDBOX_ACCESS_KEY))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runnerfleet.strictaws")
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("-p", "--port", type=int, required=True, help="port to listen on")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from runnerfleet.strictaws import motocosts

    # The emulator's own process only: `start_strict_server` runs in a test's process, whose
    # other tests compare moto with and without these patches.
    motocosts.apply_in_process()
    _plain_request_log()
    run_simple(args.host, args.port, build_app(), threaded=True)


def _plain_request_log() -> None:
    """werkzeug's request log as plain lines on stderr (the sandbox's moto.log).

    By default werkzeug styles each line with ANSI colours and writes it through colorama,
    which then strips them again because stderr is a file: about 8% of the emulator's CPU in
    the e2e jobs test (py-spy). A handler of our own keeps werkzeug from adding colorama's."""
    import logging

    from werkzeug import serving

    serving._log_add_style = False  # werkzeug's own switch (off on Windows without colorama)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("werkzeug")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)


def start_strict_server(
    host: str = "127.0.0.1", port: int = 0, *, enforce_iam: bool = True
) -> tuple[str, Callable[[], None]]:
    """The strict emulator on a thread of this process: (url, stop). Restores moto's IAM switch."""
    from moto import settings

    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    server = make_server(host, port, build_app(enforce_iam=enforce_iam), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="strictaws", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=10)
        settings.INITIAL_NO_AUTH_ACTION_COUNT = previous

    return f"http://{host}:{server.server_port}", stop
