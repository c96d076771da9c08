"""Client side of the emulator's simulated runner protocol (a stand-in for the runner binary).

`connect(encoded_jit_config)` decodes the JIT config the emulator issued (base64 JSON with the
emulator URL and a one-time credential) and brings the runner online; a second connect with
the same config fails, as with GitHub. `connect_with_registration_token(...)` is the
persistent-runner flow (config.sh with a registration token). A `RunnerSession` can
`poll_job()`, `complete_job(conclusion)` and `disconnect()`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import httpx

from runnerfleet.github.models import Runner
from runnerfleet.github.tls import shared_ssl_context


class RunnerProtocolError(Exception):
    """The emulator refused a runner call (used config, unknown session, ...)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _post(
    http: httpx.Client, path: str, body: Any = None, session: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"RunnerSession {session}"} if session else {}
    resp = http.post(f"/_emulator/runner{path}", json=body, headers=headers)
    if resp.status_code >= 400:
        try:
            message = resp.json().get("message", resp.text)
        except ValueError:
            message = resp.text
        raise RunnerProtocolError(f"{path}: {message}", resp.status_code)
    return dict(resp.json()) if resp.content else {}


def decode_jit_config(encoded_jit_config: str) -> dict[str, Any]:
    """Decode an emulator JIT config; raise ValueError naming the problem if it is not one."""
    try:
        data = json.loads(base64.b64decode(encoded_jit_config, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not an emulator JIT config (expected base64-encoded JSON)") from exc
    if not isinstance(data, dict) or not {"url", "credential"} <= data.keys():
        raise ValueError("not an emulator JIT config (missing url/credential)")
    return data


class RunnerSession:
    """An online simulated runner."""

    def __init__(self, http: httpx.Client, session: str, runner: Runner) -> None:
        self._http = http
        self._session = session
        self.runner = runner
        self.current_job: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"RunnerSession(runner={self.runner.name!r}, id={self.runner.id})"

    def poll_job(self, *, accept: bool = True) -> dict[str, Any] | None:
        """Ask for a job. With accept=True (the default) the job is started at once."""
        job = _post(self._http, "/poll", session=self._session).get("job")
        if job is None:
            return None
        if accept and job["status"] == "queued":
            job = _post(self._http, f"/jobs/{job['id']}/start", session=self._session)["job"]
        self.current_job = job
        return dict(job)

    def complete_job(self, conclusion: str = "success") -> dict[str, Any]:
        if self.current_job is None:
            raise RunnerProtocolError("complete_job: no job was taken")
        job_id = self.current_job["id"]
        job = _post(
            self._http, f"/jobs/{job_id}/complete", {"conclusion": conclusion}, self._session
        )["job"]
        self.current_job = None
        return dict(job)

    def disconnect(self) -> None:
        try:
            _post(self._http, "/disconnect", session=self._session)
        except RunnerProtocolError as exc:
            if exc.status != 401:  # already removed (ephemeral runner after its job)
                raise
        finally:
            self._http.close()


def connect(encoded_jit_config: str, *, timeout: float = 10.0) -> RunnerSession:
    config = decode_jit_config(encoded_jit_config)
    http = httpx.Client(base_url=str(config["url"]), timeout=timeout, verify=shared_ssl_context())
    try:
        data = _post(http, "/connect", {"credential": config["credential"]})
    except Exception:
        http.close()
        raise
    return RunnerSession(http, str(data["session"]), Runner.from_api(data["runner"]))


def connect_with_registration_token(
    base_url: str,
    owner: str,
    repo: str | None,
    token: str,
    name: str,
    labels: list[str],
    *,
    ephemeral: bool = False,
    timeout: float = 10.0,
) -> RunnerSession:
    http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, verify=shared_ssl_context())
    body = {
        "owner": owner,
        "repo": repo,
        "token": token,
        "name": name,
        "labels": labels,
        "ephemeral": ephemeral,
    }
    try:
        data = _post(http, "/register", body)
    except Exception:
        http.close()
        raise
    return RunnerSession(http, str(data["session"]), Runner.from_api(data["runner"]))
