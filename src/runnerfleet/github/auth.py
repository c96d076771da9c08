"""Credentials for the GitHub API: GitHub App (JWT + installation tokens) and personal tokens.

Pure helpers; the HTTP exchange for installation tokens lives in the client. `jwt`
(PyJWT + cryptography, ~190 ms to import on a loaded 2-core box) is imported lazily, so
token-only use never pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# GitHub: `iat` 60 s in the past to allow for clock drift, `exp` at most 10 minutes ahead.
JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 9 * 60
# Installation tokens are reused until one minute before they expire.
TOKEN_REFRESH_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class TokenAuth:
    """A personal access token (classic or fine-grained) or any ready bearer token."""

    token: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.token or not self.token.strip():
            raise ValueError("TokenAuth: the token is empty; pass a GitHub personal access token")


@dataclass(frozen=True)
class AppAuth:
    """A GitHub App: its app id (or client id), private key PEM, and optionally the installation.

    With `installation_id=None` the installation is looked up per owner (org, user or repo).
    """

    app_id: str
    private_key_pem: str = field(repr=False)
    installation_id: int | None = None

    def __post_init__(self) -> None:
        if not str(self.app_id).strip():
            raise ValueError("AppAuth: app_id is empty; pass the GitHub App id or client id")
        if "PRIVATE KEY-----" not in self.private_key_pem:
            raise ValueError(
                "AppAuth: private_key_pem is not a PEM private key; pass the contents of the "
                "App's .pem file (-----BEGIN RSA PRIVATE KEY----- ...)"
            )


@lru_cache(maxsize=8)
def _signing_key(private_key_pem: str) -> Any:
    """Parse the PEM once: loading (and checking) an RSA key costs ~100 ms; signing ~2 ms."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return load_pem_private_key(private_key_pem.encode(), password=None)
    except ValueError as exc:
        raise ValueError(
            "AppAuth: private_key_pem could not be loaded as an unencrypted PEM private key; "
            "pass the contents of the App's .pem file"
        ) from exc


def check_private_key(private_key_pem: str) -> None:
    """Raise ValueError naming the problem if the PEM is not a usable private key."""
    _signing_key(private_key_pem)


def app_jwt(auth: AppAuth, now: float) -> str:
    """Return an RS256 JWT for the App: iat = now - 60 s, exp = now + 9 min, iss = app id."""
    import jwt  # lazy: see module docstring

    payload = {
        "iat": int(now) - JWT_BACKDATE_SECONDS,
        "exp": int(now) + JWT_LIFETIME_SECONDS,
        "iss": str(auth.app_id),
    }
    return jwt.encode(payload, _signing_key(auth.private_key_pem), algorithm="RS256")
