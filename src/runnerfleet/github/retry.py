"""Retry decisions for GitHub API responses (pure: time and randomness are passed in).

Follows GitHub's guidance: on a primary rate limit (`x-ratelimit-remaining: 0`) wait until
`x-ratelimit-reset`; on a secondary limit (403/429) honour `retry-after`, otherwise back off
exponentially starting at 60 s; on 5xx and network errors back off exponentially from 1 s.
Every wait gets a little jitter so a fleet of clients does not retry in lockstep.
`Decision.asked` is the wait GitHub itself asked for (retry-after, or the time to the
primary limit's reset), kept apart from the jittered delay so that a caller that will not
wait that long (runnerfleet.github.budget) can name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SECONDARY_BASE_SECONDS = 60.0
SECONDARY_MAX_SECONDS = 15 * 60.0
SERVER_ERROR_BASE_SECONDS = 1.0
SERVER_ERROR_MAX_SECONDS = 30.0
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class Decision:
    """What to do about one response: `retry` after `delay` seconds, and why."""

    retry: bool
    delay: float = 0.0
    reason: str = ""
    asked: float | None = None  # seconds GitHub asked for; None for our own backoff

    @property
    def rate_limited(self) -> bool:
        return self.reason.startswith(("secondary", "primary"))


NO_RETRY = Decision(retry=False)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def primary_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until the primary limit resets if it is exhausted, else None."""
    if _int_header(headers, "x-ratelimit-remaining") != 0:
        return None
    reset = _int_header(headers, "x-ratelimit-reset")
    if reset is None:
        return None
    return max(0.0, reset - now)


def is_secondary_limit(status: int, headers: Mapping[str, str], body_text: str) -> bool:
    if status == 429:
        return True
    if status != 403:
        return False
    return "retry-after" in headers or "secondary rate limit" in body_text.lower()


def decide(
    status: int,
    headers: Mapping[str, str],
    body_text: str,
    *,
    attempt: int,
    now: float,
    jitter: float,
) -> Decision:
    """Decide whether to retry a response. `attempt` counts from 0; `jitter` is in [0, 1)."""
    if status < 400:
        return NO_RETRY
    if status in (403, 429):
        retry_after = _int_header(headers, "retry-after")
        if retry_after is not None:
            return Decision(
                True, retry_after + jitter, "secondary rate limit (retry-after)", retry_after
            )
        wait = primary_wait(headers, now)
        if wait is not None:
            return Decision(True, wait + 1.0 + jitter, "primary rate limit exhausted", wait)
        if is_secondary_limit(status, headers, body_text):
            delay = min(SECONDARY_MAX_SECONDS, SECONDARY_BASE_SECONDS * 2.0**attempt)
            return Decision(True, delay + jitter * 5, "secondary rate limit (backoff)")
        return NO_RETRY
    if status in RETRYABLE_SERVER_STATUSES:
        return Decision(True, backoff(attempt, jitter), f"server error {status}")
    return NO_RETRY


def backoff(attempt: int, jitter: float) -> float:
    """Exponential backoff for 5xx and network errors: 1, 2, 4, ... s, capped, plus jitter."""
    base = min(SERVER_ERROR_MAX_SECONDS, SERVER_ERROR_BASE_SECONDS * 2.0**attempt)
    return base * (1.0 + 0.25 * jitter)
