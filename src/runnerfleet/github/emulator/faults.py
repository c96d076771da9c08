"""Fault injection rules for the emulator (pure matching; the server applies them).

A fault applies to requests whose path matches `path_glob` (fnmatch, e.g. "/orgs/*/actions/
runners*"), or whose path template equals it (e.g. "/orgs/{org}/actions/runners"); pass
`method="POST"` to narrow it. It fires `times` times, first registered first.

Kinds:
- "5xx": answer `status` (default 502). `phase="after"` first performs the request and then
  answers the error, like a proxy that loses the response (an ambiguous failure).
- "latency": wait `seconds` (default 1.0, real time) before answering normally.
- "secondary_rate_limit": 403 (or `status=429`) with `retry-after: <retry_after>` (default
  60; pass `retry_after=None` for no header, which asks clients to back off themselves).
- "primary_rate_limit": exhaust the caller's primary limit until now + `reset_in` (default
  120 s); every call until then gets 403 with `x-ratelimit-remaining: 0`.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("5xx", "latency", "secondary_rate_limit", "primary_rate_limit")


@dataclass
class Fault:
    path_glob: str
    kind: str
    times: int
    params: dict[str, Any] = field(default_factory=dict)
    method: str | None = None

    def matches(self, method: str, path: str, template: str = "") -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if template and template == self.path_glob:
            return True
        return fnmatch.fnmatchcase(path, self.path_glob)


class FaultBook:
    """Pending faults; `take` consumes one matching fault (first registered first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self, path_glob: str, kind: str, times: int = 1, method: str | None = None, **params: Any
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        if not path_glob.startswith("/") and not path_glob.startswith("*"):
            raise ValueError(f"path_glob must match a request path like /orgs/*, got {path_glob!r}")
        with self._lock:
            self._faults.append(Fault(path_glob, kind, times, dict(params), method))

    def take(self, method: str, path: str, template: str = "") -> Fault | None:
        """Consume a fault whose glob matches the path (or that names the path template)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, template):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"path_glob": f.path_glob, "kind": f.kind, "times": f.times, "params": f.params}
                for f in self._faults
            ]
