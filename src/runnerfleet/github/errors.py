"""Errors raised by the GitHub client. Messages never contain credentials."""

from __future__ import annotations


class GitHubError(Exception):
    """A GitHub API call failed. `status` is the HTTP status (0 when no response arrived)."""

    def __init__(self, message: str, status: int = 0, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method else ""
        code = f"HTTP {self.status}: " if self.status else ""
        return f"{code}{self.args[0]}{where}"


class NotFoundError(GitHubError):
    """404: the resource does not exist or the credential cannot see it."""


class AuthError(GitHubError):
    """401/403 (not a rate limit): the credential is wrong, expired or lacks permission."""


class ConflictError(GitHubError):
    """409: the resource already exists (for example a runner with the same name)."""


class ValidationError(GitHubError):
    """422: GitHub rejected the request body."""


class RateLimitError(GitHubError):
    """Rate limited and the retry budget is spent."""


class TransientError(GitHubError):
    """5xx or network failure that persisted through every retry."""


class RunnerNameConflict(ConflictError):
    """A busy or online runner already holds the name asked for; it was left alone."""


class BudgetExceeded(GitHubError):
    """A retry would wait longer than the call's or the invocation's time budget allows.

    `requested_wait` is the wait GitHub asked for (retry-after or the rate-limit reset), or
    our own backoff when GitHub named none; `allowed` is what the budget had left.
    """

    def __init__(
        self,
        message: str,
        status: int = 0,
        *,
        method: str = "",
        path: str = "",
        requested_wait: float = 0.0,
        allowed: float = 0.0,
    ) -> None:
        super().__init__(message, status, method=method, path=path)
        self.requested_wait = requested_wait
        self.allowed = allowed


class RateLimitBudgetExceeded(BudgetExceeded, RateLimitError):
    """Rate limited, and the wait GitHub asked for does not fit the time budget."""


class RetryBudgetExceeded(BudgetExceeded, TransientError):
    """5xx or network failures, and the next backoff does not fit the time budget."""


class RunnerGroupNotFound(NotFoundError):
    """The configured runner group does not exist in the organization."""


class OwnerKindError(GitHubError):
    """The owner is a user account where an organization is needed (no user-level runners)."""
