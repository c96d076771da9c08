"""One TLS context per process for every httpx client in this package.

Building an httpx client loads the CA bundle each time (~100-200 ms on a busy box); a shared
`ssl.SSLContext` (thread-safe for client use) makes later clients nearly free. The context
is httpx's default: certificate verification on, certifi's CA bundle.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
