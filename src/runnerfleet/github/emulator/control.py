"""EmulatorControl: an httpx client for a running emulator's /_emulator/ control surface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from runnerfleet.github.models import Runner
from runnerfleet.github.tls import shared_ssl_context


class EmulatorControl:
    """Drive an emulator started in another process (e.g. `runnerfleet github-emulator`)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.base_url}/_emulator", timeout=timeout, verify=shared_ssl_context()
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._http.request(method, path, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"emulator {method} {path}: HTTP {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def info(self) -> dict[str, Any]:
        return dict(self._call("GET", "/info"))

    def add_installation(
        self,
        owner: str,
        account_type: str = "Organization",
        permissions: Mapping[str, str] | None = None,
    ) -> int:
        """Install the App on `owner` (idempotent); permissions None: the documented set."""
        body: dict[str, Any] = {"owner": owner, "account_type": account_type}
        if permissions is not None:
            body["permissions"] = dict(permissions)
        return int(self._call("POST", "/installations", json=body)["id"])

    def add_runner_group(self, owner: str, name: str) -> int:
        path = f"/installations/{owner}/runner-groups"
        return int(self._call("POST", path, json={"name": name})["id"])

    def enqueue_job(self, owner: str, repo: str, labels: list[str]) -> int:
        body = {"owner": owner, "repo": repo, "labels": labels}
        return int(self._call("POST", "/jobs", json=body)["id"])

    def job(self, job_id: int) -> dict[str, Any]:
        return dict(self._call("GET", f"/jobs/{int(job_id)}"))

    def runners(self, owner: str, repo: str | None = None) -> list[Runner]:
        params = {"owner": owner, **({"repo": repo} if repo else {})}
        data = self._call("GET", "/runners", params=params)
        return [Runner.from_api(r) for r in data["runners"]]

    def set_runner_offline(self, runner_id: int) -> None:
        self._call("POST", f"/runners/{int(runner_id)}/offline")

    def request_log(self) -> list[tuple[str, str, int]]:
        data = self._call("GET", "/requests")
        return [(r["method"], r["path"], r["status"]) for r in data["requests"]]

    def call_counts(self) -> dict[str, int]:
        return dict(self._call("GET", "/requests")["counts"])

    def counted_calls(self) -> dict[str, int]:
        """Like call_counts, without the 304 answers (free under GitHub's rate limit)."""
        return dict(self._call("GET", "/requests")["counted"])

    def inject(self, path_glob: str, kind: str, times: int = 1, **params: Any) -> None:
        body = {"path_glob": path_glob, "kind": kind, "times": times, "params": params}
        self._call("POST", "/faults", json=body)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/deliveries")["deliveries"])

    def redeliver(self, delivery_id: str) -> None:
        self._call("POST", f"/deliveries/{delivery_id}/redeliver")
