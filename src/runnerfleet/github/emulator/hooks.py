"""Webhook deliveries from the emulator: payloads, signatures, a sender thread, redelivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from runnerfleet.github.emulator import bodies
from runnerfleet.github.emulator.rest import RestApi
from runnerfleet.github.emulator.state import JobRec
from runnerfleet.github.tls import shared_ssl_context

log = logging.getLogger(__name__)
HOOK_ID = 424242


@dataclass
class Delivery:
    id: str
    event: str
    action: str
    job_id: int
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    status: int | None = None
    attempts: int = 0
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "action": self.action,
            "job_id": self.job_id,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
        }


def workflow_job_payload(api: RestApi, job: JobRec, action: str) -> dict[str, Any]:
    """A `workflow_job` webhook body as GitHub sends it."""
    base = api.base_url()
    inst = api.world.installations[job.owner]
    owner = bodies.user(base, job.owner, inst.account_id, inst.account_type)
    repo = api.repo_body(job.owner, job.repo)
    wj = api.job_body(job)
    if action == "queued":
        wj["status"] = "queued"
    payload: dict[str, Any] = {
        "action": action,
        "workflow_job": wj,
        "repository": repo,
        "sender": bodies.user(base, "octocat", 1, "User"),
        "installation": {"id": inst.id, "node_id": bodies.node_id("Installation", inst.id)},
    }
    if inst.account_type == "Organization":
        org_url = f"{base}/orgs/{job.owner}"
        payload["organization"] = {
            "login": job.owner,
            "id": owner["id"],
            "node_id": owner["node_id"],
            "url": org_url,
            "repos_url": f"{org_url}/repos",
            "events_url": f"{org_url}/events",
            "hooks_url": f"{org_url}/hooks",
            "issues_url": f"{org_url}/issues",
            "members_url": f"{org_url}/members{{/member}}",
            "public_members_url": f"{org_url}/public_members{{/member}}",
            "avatar_url": owner["avatar_url"],
            "description": None,
        }
    return payload


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def make_delivery(
    payload: dict[str, Any], job_id: int, secret: str | None, target_id: int
) -> Delivery:
    body = json.dumps(payload, separators=(",", ":")).encode()
    delivery_id = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/emulator",
        "X-GitHub-Event": "workflow_job",
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": str(HOOK_ID),
        "X-GitHub-Hook-Installation-Target-ID": str(target_id),
        "X-GitHub-Hook-Installation-Target-Type": "integration",
    }
    if secret:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return Delivery(delivery_id, "workflow_job", str(payload["action"]), job_id, body, headers)


class WebhookSender:
    """Posts deliveries to `url` from one background thread, in order."""

    def __init__(self, url: str | None, on_sent: Callable[[Delivery], None] | None = None) -> None:
        self.url = url
        self._on_sent = on_sent
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._http = httpx.Client(timeout=10.0, verify=shared_ssl_context())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
        self._thread.start()

    def submit(self, delivery: Delivery) -> None:
        self._queue.put(delivery)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every submitted delivery was attempted."""
        done = threading.Event()
        self._queue.put(None)

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        if not done.wait(timeout):
            raise TimeoutError("webhook deliveries still pending after flush timeout")

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._queue.put(None)
            self._thread.join(timeout=5)
        self._http.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    if self._stopping.is_set():
                        return
                    continue
                self._deliver(item)
            finally:
                self._queue.task_done()

    def _deliver(self, d: Delivery) -> None:
        d.attempts += 1
        if not self.url:
            d.error = "no webhook URL configured"
            return
        try:
            resp = self._http.post(self.url, content=d.body, headers=d.headers)
            d.status, d.error = resp.status_code, None
        except httpx.HTTPError as exc:
            d.status, d.error = None, type(exc).__name__
            log.warning("webhook delivery %s failed: %s", d.id, d.error)
        if self._on_sent is not None:
            self._on_sent(d)
