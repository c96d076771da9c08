"""IMDSv2 client: session token, instance id, spot interruption notice, ASG lifecycle state.

Talks HTTP to the metadata service (a local fake server in tests). Every call uses a session
token (IMDSv2 is required on the hosts); a 404 on the notice paths means "no notice".
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_ENDPOINT = "http://169.254.169.254"
TOKEN_TTL = 21600


class ImdsError(RuntimeError):
    """The metadata service did not answer as expected."""


@dataclass
class ImdsClient:
    """A tiny IMDSv2 client. `endpoint` is injectable so tests use a loopback fake."""

    endpoint: str = DEFAULT_ENDPOINT
    timeout: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _token: str | None = field(default=None, repr=False)
    _token_expiry: float = 0.0

    def _session_token(self) -> str:
        if self._token and self.clock() < self._token_expiry:
            return self._token
        req = urllib.request.Request(  # noqa: S310 - fixed http endpoint of the IMDS
            f"{self.endpoint}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL)},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                self._token = resp.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            raise ImdsError(f"IMDSv2 token request to {self.endpoint} failed: {exc}") from None
        self._token_expiry = self.clock() + TOKEN_TTL - 60
        return self._token

    def get(self, path: str) -> str | None:
        """GET a metadata path; None on 404."""
        req = urllib.request.Request(  # noqa: S310
            f"{self.endpoint}/latest/{path.lstrip('/')}",
            headers={"X-aws-ec2-metadata-token": self._session_token()},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return str(resp.read().decode())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code == 401:
                self._token = None
            raise ImdsError(f"IMDS GET {path} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ImdsError(f"IMDS GET {path} failed: {exc}") from None

    def instance_id(self) -> str:
        value = self.get("meta-data/instance-id")
        if not value:
            raise ImdsError("IMDS has no instance-id")
        return value.strip()

    def spot_action(self) -> str | None:
        """`terminate`/`stop`/`hibernate` when a spot interruption notice is out, else None."""
        raw = self.get("meta-data/spot/instance-action")
        if not raw:
            return None
        try:
            return str(json.loads(raw).get("action")) or None
        except (json.JSONDecodeError, AttributeError):
            return "terminate"

    def lifecycle_state(self) -> str | None:
        """The ASG target lifecycle state (e.g. `InService`, `Terminated`), if any."""
        value = self.get("meta-data/autoscaling/target-lifecycle-state")
        return value.strip() if value else None
