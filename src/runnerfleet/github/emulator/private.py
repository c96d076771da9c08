"""Emulator-only endpoints under /_emulator/: the simulated runner protocol and the control
surface that lets another process (CLI, tests, benchmarks) drive a running emulator.

Runner protocol (used by runnerfleet.github.emulator_runner):
  POST /_emulator/runner/connect            {"credential"}           -> {"session", "runner"}
  POST /_emulator/runner/register           {owner, repo, token, name, labels, ephemeral}
  POST /_emulator/runner/poll               (Authorization: RunnerSession <s>) -> {"job"}
  POST /_emulator/runner/jobs/{id}/start
  POST /_emulator/runner/jobs/{id}/complete {"conclusion"}
  POST /_emulator/runner/disconnect
Control: GET info, POST installations ({owner, account_type, permissions}), POST
installations/{owner}/runner-groups ({name}), POST/GET jobs, GET runners, POST runners/{id}/offline,
GET requests, POST/DELETE faults, GET deliveries, POST deliveries/{id}/redeliver.
The control surface is unauthenticated: the emulator only ever binds loopback addresses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runnerfleet.github.emulator.http import HttpError, Reply, Request, Route
from runnerfleet.github.emulator.state import RunnerRec

if TYPE_CHECKING:
    from runnerfleet.github.emulator.server import GitHubEmulator

CONCLUSIONS = ("success", "failure", "cancelled", "skipped", "neutral", "timed_out")


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise HttpError(422, f"{what} must be a list of strings")
    return value


class PrivateApi:
    def __init__(self, emulator: GitHubEmulator) -> None:
        self.emu = emulator
        self.world = emulator.world

    def routes(self) -> list[Route]:
        p = "/_emulator"
        return [
            Route("POST", f"{p}/runner/connect", self.connect, "none"),
            Route("POST", f"{p}/runner/register", self.register, "none"),
            Route("POST", f"{p}/runner/poll", self.poll, "runner"),
            Route("POST", f"{p}/runner/jobs/{{job_id}}/start", self.start, "runner"),
            Route("POST", f"{p}/runner/jobs/{{job_id}}/complete", self.complete, "runner"),
            Route("POST", f"{p}/runner/disconnect", self.disconnect, "runner"),
            Route("GET", f"{p}/info", self.info, "none"),
            Route("POST", f"{p}/installations", self.add_installation, "none"),
            Route("POST", f"{p}/installations/{{owner}}/runner-groups", self.add_group, "none"),
            Route("POST", f"{p}/jobs", self.enqueue, "none"),
            Route("GET", f"{p}/jobs/{{job_id}}", self.get_job, "none"),
            Route("GET", f"{p}/runners", self.list_runners, "none"),
            Route("POST", f"{p}/runners/{{runner_id}}/offline", self.offline, "none"),
            Route("GET", f"{p}/requests", self.requests, "none"),
            Route("POST", f"{p}/faults", self.add_fault, "none"),
            Route("DELETE", f"{p}/faults", self.clear_faults, "none"),
            Route("GET", f"{p}/deliveries", self.deliveries, "none"),
            Route("POST", f"{p}/deliveries/{{delivery_id}}/redeliver", self.redeliver, "none"),
        ]

    # ------------------------------------------------------------------ runner

    def _session(self, req: Request) -> RunnerRec:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme != "RunnerSession" or not token:
            raise HttpError(401, "runner session required (Authorization: RunnerSession ...)")
        return self.world.by_session(token)

    def _runner_reply(self, rec: RunnerRec, status: int = 200) -> Reply:
        return Reply(status, {"session": rec.session, "runner": self.emu.api.runner_body(rec)})

    def connect(self, req: Request) -> Reply:
        credential = (req.body or {}).get("credential")
        if not isinstance(credential, str):
            raise HttpError(422, "credential is required")
        return self._runner_reply(self.world.connect_jit(credential))

    def register(self, req: Request) -> Reply:
        b = req.body or {}
        for key in ("owner", "token", "name"):
            if not isinstance(b.get(key), str) or not b[key]:
                raise HttpError(422, f"{key} is required")
        rec = self.world.register_with_token(
            b["owner"],
            b.get("repo"),
            b["token"],
            b["name"],
            _str_list(b.get("labels"), "labels"),
            bool(b.get("ephemeral", False)),
        )
        return self._runner_reply(rec, 201)

    def poll(self, req: Request) -> Reply:
        job = self.world.poll(self._session(req))
        return Reply(200, {"job": self.emu.api.job_body(job) if job else None})

    def start(self, req: Request) -> Reply:
        job = self.world.start(self._session(req), int(req.params["job_id"]))
        return Reply(200, {"job": self.emu.api.job_body(job)})

    def complete(self, req: Request) -> Reply:
        conclusion = (req.body or {}).get("conclusion", "success")
        if conclusion not in CONCLUSIONS:
            raise HttpError(422, f"conclusion must be one of {', '.join(CONCLUSIONS)}")
        job = self.world.complete(self._session(req), int(req.params["job_id"]), conclusion)
        return Reply(200, {"job": self.emu.api.job_body(job)})

    def disconnect(self, req: Request) -> Reply:
        self.world.set_offline(self._session(req))
        return Reply(204)

    # ----------------------------------------------------------------- control

    def info(self, req: Request) -> Reply:
        return Reply(200, {"url": self.emu.url, "app_id": self.emu.app_id})

    def add_installation(self, req: Request) -> Reply:
        b = req.body or {}
        owner = b.get("owner")
        if not isinstance(owner, str) or not owner:
            raise HttpError(422, "owner is required")
        kind = b.get("account_type", "Organization")
        perms = b.get("permissions")
        if perms is not None and (
            not isinstance(perms, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in perms.items())
        ):
            raise HttpError(422, "permissions must map permission names to read/write")
        return Reply(201, {"id": self.world.add_installation(owner, kind, perms)})

    def add_group(self, req: Request) -> Reply:
        name = (req.body or {}).get("name")
        if not isinstance(name, str) or not name:
            raise HttpError(422, "name is required")
        return Reply(201, {"id": self.world.add_runner_group(req.params["owner"], name)})

    def enqueue(self, req: Request) -> Reply:
        b = req.body or {}
        if not isinstance(b.get("owner"), str) or not isinstance(b.get("repo"), str):
            raise HttpError(422, "owner and repo are required")
        job_id = self.world.enqueue_job(b["owner"], b["repo"], _str_list(b.get("labels"), "labels"))
        return Reply(201, {"id": job_id})

    def get_job(self, req: Request) -> Reply:
        job = self.world.jobs.get(int(req.params["job_id"]))
        if job is None:
            raise HttpError(404, "no such job")
        return Reply(200, self.emu.api.job_body(job))

    def list_runners(self, req: Request) -> Reply:
        owner = req.query.get("owner")
        repo = req.query.get("repo") or None
        recs = [
            r
            for r in sorted(self.world.runners.values(), key=lambda r: r.id)
            if owner is None or (r.owner == owner and r.repo == repo)
        ]
        return Reply(200, {"runners": [self.emu.api.runner_body(r) for r in recs]})

    def offline(self, req: Request) -> Reply:
        rec = self.world.runners.get(int(req.params["runner_id"]))
        if rec is None:
            raise HttpError(404, "no such runner")
        self.world.set_offline(rec)
        return Reply(204)

    def requests(self, req: Request) -> Reply:
        log = [{"method": m, "path": t, "status": s} for m, t, s in list(self.emu.request_log)]
        counts = self.emu.call_counts()
        counted = self.emu.call_counts(not_modified=False)
        return Reply(200, {"requests": log, "counts": counts, "counted": counted})

    def add_fault(self, req: Request) -> Reply:
        b = dict(req.body or {})
        try:
            self.emu.inject(
                str(b.pop("path_glob", "")),
                str(b.pop("kind", "")),
                int(b.pop("times", 1)),
                **dict(b.pop("params", {}) or {}),
            )
        except ValueError as exc:
            raise HttpError(422, str(exc)) from exc
        return Reply(201, {"faults": self.emu.faults.pending()})

    def clear_faults(self, req: Request) -> Reply:
        self.emu.faults.clear()
        return Reply(204)

    def deliveries(self, req: Request) -> Reply:
        return Reply(200, {"deliveries": [d.summary() for d in self.emu.deliveries.values()]})

    def redeliver(self, req: Request) -> Reply:
        try:
            self.emu.redeliver(req.params["delivery_id"])
        except KeyError as exc:
            raise HttpError(404, "no such delivery") from exc
        return Reply(202, {"id": req.params["delivery_id"]})
