"""Logging that cannot leak the runner's secrets.

Every record passes `runnerfleet.redaction.redact` (secret shapes) and, on top, replaces each secret
value this process has seen (JIT config, registration token) wherever it appears.
"""

from __future__ import annotations

import logging
import threading

from runnerfleet.redaction import redact

LOGGER_NAME = "runnerfleet.agent"


class SecretFilter(logging.Filter):
    """Rewrites each record's message with every known secret removed."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "***")
        return redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.scrub(record.getMessage())
        record.msg = message
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


SECRETS = SecretFilter()


def logger(name: str = LOGGER_NAME) -> logging.Logger:
    """The agent's logger with the secret filter attached (idempotent)."""
    log = logging.getLogger(name)
    if SECRETS not in log.filters:
        log.addFilter(SECRETS)
    return log


def configure_stderr(level: int = logging.INFO) -> None:
    """One clear line per event on stderr (journald adds time and unit)."""
    handler = logging.StreamHandler()
    handler.addFilter(SECRETS)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger(LOGGER_NAME)
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
