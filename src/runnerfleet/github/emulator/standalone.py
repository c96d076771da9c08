"""Running the emulator as its own process: the state file and the serve loop.

The state file (JSON, mode 0600) tells other processes how to reach the emulator: `url`,
`app_id`, `client_id`, `app_key_path` (the App's private key, a separate 0600 PEM file),
`pat`, `pid`, `installations` (owner -> id). It holds credentials, so it is never printed.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from runnerfleet.github.emulator.server import GitHubEmulator
from runnerfleet.signals import wait_for_signal


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_state(emulator: GitHubEmulator, state_file: Path) -> dict[str, Any]:
    """Write the state file and the App key next to it; return the state (with secrets)."""
    key_path = state_file.with_name(state_file.stem + ".app-key.pem")
    _write_private(key_path, emulator.app_private_key_pem)
    state = {
        "url": emulator.url,
        "app_id": emulator.app_id,
        "client_id": emulator.client_id,
        "app_key_path": str(key_path.resolve()),
        "pat": emulator.pat,
        "pid": os.getpid(),
        "installations": {o: i.id for o, i in emulator.world.installations.items()},
    }
    _write_private(state_file, json.dumps(state, indent=2) + "\n")
    return state


def read_state(state_file: Path) -> dict[str, Any]:
    """Read a state file written by `write_state` (clear error if missing or not ours)."""
    try:
        data = json.loads(state_file.read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{state_file}: no emulator state file; start one with "
            f"`runnerfleet github-emulator --state-file {state_file}`"
        ) from exc
    if not isinstance(data, dict) or "url" not in data:
        raise ValueError(f"{state_file}: not a GitHub emulator state file")
    return data


def serve_until_signalled(emulator: GitHubEmulator, stop: threading.Event | None = None) -> None:
    """Block until SIGINT/SIGTERM (or `stop` is set), then stop the emulator."""
    try:
        wait_for_signal(stop)
    finally:
        emulator.stop()
