"""The standalone emulator's state file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.emulator.standalone import read_state, write_state


def test_state_file_roundtrip(tmp_path: Path) -> None:
    emu = GitHubEmulator()
    emu.start()
    try:
        emu.add_installation("acme")
        path = tmp_path / "state" / "gh.json"
        write_state(emu, path)
        state = read_state(path)
        assert state["url"] == emu.url and state["pat"] == emu.pat
        assert state["installations"] == {"acme": emu.world.installations["acme"].id}
        key = Path(state["app_key_path"])
        assert key.read_text() == emu.app_private_key_pem
        for p in (path, key):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600
    finally:
        emu.stop()
    with pytest.raises(FileNotFoundError, match="runnerfleet github-emulator"):
        read_state(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(ValueError, match="not a GitHub emulator state file"):
        read_state(bad)


def test_failed_delivery_is_recorded() -> None:
    emu = GitHubEmulator(webhook_url="http://127.0.0.1:9/nothing-listens", webhook_secret="s")
    emu.start()
    try:
        emu.add_installation("acme")
        emu.enqueue_job("acme", "app", ["linux"])
        emu.flush_webhooks()
        (delivery,) = emu.deliveries.values()
        assert delivery.status is None and delivery.error == "ConnectError"
        assert delivery.attempts == 1
        emu.redeliver(delivery.id)
        emu.flush_webhooks()
        assert delivery.attempts == 2
        assert "sha256=" not in repr(delivery)  # signature and body stay out of reprs
    finally:
        emu.stop()
