"""The one-shot registration the registrar writes to SSM and the agent consumes.

Stored as JSON in a SecureString parameter `/<name>/runners/<instance-id>`. It carries either a
JIT config (ephemeral runners) or a registration token (persistent runners), never both; the
secret is hidden from `repr()` so it cannot reach a log line by accident.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["jit", "token"]
FORMAT_VERSION = 1

# Every runnerfleet runner carries these labels (the seed's), then the configured ones.
DEFAULT_LABELS = ("self-hosted", "linux", "x64")


class RegistrationError(ValueError):
    """The parameter's value is not a registration this agent understands."""


@dataclass(frozen=True)
class Registration:
    """One host's registration. `secret` is the encoded JIT config or the registration token."""

    kind: Kind
    runner_name: str
    secret: str = field(repr=False)
    url: str | None = None
    labels: tuple[str, ...] = ()
    runner_id: int | None = None
    expires_at: str | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "kind": self.kind,
            "runner_name": self.runner_name,
            "secret": self.secret,
            "url": self.url,
            "labels": list(self.labels),
            "runner_id": self.runner_id,
            "expires_at": self.expires_at,
        }
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Registration:
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            raise RegistrationError(
                "registration parameter is not JSON; it must be written by the runnerfleet "
                "registrar (runnerfleet registrar run-once)"
            ) from None
        if not isinstance(body, dict):
            raise RegistrationError("registration parameter must hold a JSON object")
        kind = body.get("kind")
        if kind not in ("jit", "token"):
            raise RegistrationError(f"registration kind {kind!r} is neither 'jit' nor 'token'")
        name = body.get("runner_name")
        secret = body.get("secret")
        if not isinstance(name, str) or not name:
            raise RegistrationError("registration has no runner_name")
        if not isinstance(secret, str) or not secret:
            raise RegistrationError("registration has no secret (JIT config or token)")
        url = body.get("url")
        if kind == "token" and not isinstance(url, str):
            raise RegistrationError("a token registration needs the GitHub url to register at")
        labels = body.get("labels") or []
        runner_id = body.get("runner_id")
        return cls(
            kind=kind,
            runner_name=name,
            secret=secret,
            url=url if isinstance(url, str) else None,
            labels=tuple(str(x) for x in labels),
            runner_id=runner_id if isinstance(runner_id, int) else None,
            expires_at=body.get("expires_at") if isinstance(body.get("expires_at"), str) else None,
        )


def parameter_name(prefix: str, instance_id: str) -> str:
    """`/<name>/runners` + `i-0abc` -> `/<name>/runners/i-0abc`."""
    return f"{prefix.rstrip('/')}/{instance_id}"
