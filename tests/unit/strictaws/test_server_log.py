"""The emulator's request log: plain lines, without colorama (runnerfleet.strictaws.server)."""

from __future__ import annotations

import io
import logging
import sys

import pytest
from werkzeug import serving

from runnerfleet.strictaws import server


def test_request_log_lines_are_plain_and_skip_colorama(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("werkzeug")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(serving, "_log_add_style", True)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)

    server._plain_request_log()

    (handler,) = logger.handlers
    assert type(handler) is logging.StreamHandler
    assert handler.stream is err  # not colorama's AnsiToWin32 wrapper
    styled = serving._ansi_style("404", "yellow")  # what log_request does to a status code
    logger.info('"GET / HTTP/1.1" %s -', styled)
    assert err.getvalue() == '"GET / HTTP/1.1" 404 -\n', repr(err.getvalue())
