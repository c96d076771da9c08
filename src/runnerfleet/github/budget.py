"""Time budgets for GitHub calls: how long one call and one invocation may spend waiting.

Pure (the clock and the deadline are passed in). A retry is taken only when its wait fits
all of: `max_wait_seconds` (a cap on any single retry-after / rate-limit reset / backoff),
the call's budget (`call_budget_seconds` since the call started), the invocation's budget
(`begin(budget_seconds=...)`), and the invocation's deadline (`begin(remaining_seconds=...)`,
e.g. Lambda's `context.get_remaining_time_in_millis() / 1000`, less `reserve_seconds` kept
to finish the work). Otherwise the caller raises at once, naming the wait GitHub asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_CALL_BUDGET_SECONDS = 60.0
DEFAULT_MAX_WAIT_SECONDS = 60.0
DEFAULT_RESERVE_SECONDS = 3.0


@dataclass(frozen=True)
class Verdict:
    """Whether a wait fits; `allowed` is what the tightest limit leaves, `limit` names it."""

    fits: bool
    allowed: float
    limit: str


class Budget:
    """The limits of one client; `begin` starts an invocation (thread-safe)."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        call_budget_seconds: float = DEFAULT_CALL_BUDGET_SECONDS,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
    ) -> None:
        if call_budget_seconds <= 0 or max_wait_seconds < 0:
            raise ValueError(
                "call_budget_seconds must be > 0 and max_wait_seconds >= 0, got "
                f"{call_budget_seconds} and {max_wait_seconds}"
            )
        self._clock = clock
        self.call_budget_seconds = float(call_budget_seconds)
        self.max_wait_seconds = float(max_wait_seconds)
        self._lock = threading.Lock()
        self._remaining: Callable[[], float] | None = None
        self._invocation_end: float | None = None
        self._reserve = DEFAULT_RESERVE_SECONDS

    def begin(
        self,
        remaining_seconds: Callable[[], float] | None = None,
        *,
        budget_seconds: float | None = None,
        reserve_seconds: float = DEFAULT_RESERVE_SECONDS,
    ) -> None:
        """Start an invocation: its deadline (live callable) and/or its total budget."""
        if budget_seconds is not None and budget_seconds <= 0:
            raise ValueError(f"budget_seconds must be > 0, got {budget_seconds}")
        with self._lock:
            self._remaining = remaining_seconds
            self._invocation_end = (
                None if budget_seconds is None else self._clock() + float(budget_seconds)
            )
            self._reserve = float(reserve_seconds)

    def left(self, call_started: float) -> tuple[float, str]:
        """Seconds left before the tightest limit, and its name."""
        now = self._clock()
        with self._lock:
            remaining, end, reserve = self._remaining, self._invocation_end, self._reserve
        limits = [(call_started + self.call_budget_seconds - now, "the call's time budget")]
        if end is not None:
            limits.append((end - now, "the invocation's time budget"))
        if remaining is not None:
            limits.append((float(remaining()) - reserve, "the invocation's deadline"))
        return min(limits)

    def check(self, wait: float, call_started: float) -> Verdict:
        """Whether waiting `wait` seconds (then retrying) fits every limit."""
        left, limit = self.left(call_started)
        if wait > self.max_wait_seconds and self.max_wait_seconds <= left:
            return Verdict(False, self.max_wait_seconds, "the cap on a single wait")
        if wait > left:
            return Verdict(False, max(0.0, left), limit)
        return Verdict(True, left, limit)
