"""The emulated GitHub REST endpoints (runners, tokens, JIT, groups, installations, jobs)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from typing import Any

from runnerfleet.github.emulator import bodies
from runnerfleet.github.emulator.http import Bodies, HttpError, Reply, Request, Route
from runnerfleet.github.emulator.state import (
    DEFAULT_GROUP_ID,
    DEFAULT_GROUP_NAME,
    EmulatorStateError,
    JobRec,
    RunnerRec,
    World,
)


class RestApi:
    """Route handlers over a World. `base_url` is read at call time (known after bind)."""

    def __init__(self, world: World, base_url: Callable[[], str], app_id: int) -> None:
        self.world = world
        self.base_url = base_url
        self.app_id = app_id

    # ----------------------------------------------------------------- helpers

    def _owner_user(self, owner: str) -> dict[str, Any]:
        inst = self.world.installations.get(owner)
        ident = inst.account_id if inst else 1
        kind = inst.account_type if inst else "Organization"
        return bodies.user(self.base_url(), owner, ident, kind)

    def _check_scope(self, req: Request, owner: str) -> None:
        ident = req.identity
        if ident is None or ident.kind != "installation":
            return
        inst = self.world.installations.get(owner)
        if inst is None or inst.id != ident.installation_id:
            raise HttpError(403, "Resource not accessible by integration")

    def _scope(self, req: Request) -> tuple[str, str | None]:
        owner = req.params.get("org") or req.params["owner"]
        repo = req.params.get("repo")
        self._check_scope(req, owner)
        inst = self.world.installations.get(owner)
        if inst is None:
            raise HttpError(404, "Not Found")
        if "org" in req.params and inst.account_type != "Organization":
            raise HttpError(404, "Not Found")  # /orgs/<user>/...: no such organization
        if repo is not None:
            self.world.repo(owner, repo, create=True)
        return owner, repo

    def runner_body(self, rec: RunnerRec) -> dict[str, Any]:
        return {
            "id": rec.id,
            "runner_group_id": rec.group_id,
            "name": rec.name,
            "os": rec.os,
            "status": rec.status,
            "busy": rec.busy,
            "ephemeral": rec.ephemeral,
            "labels": self._labels(rec),
        }

    @staticmethod
    def _labels(rec: RunnerRec) -> list[dict[str, Any]]:
        out = []
        for i, name in enumerate(rec.all_labels()):
            out.append(bodies.runner_label(name, rec.id * 1000 + i, i > 0))
        return out

    def job_body(self, job: JobRec) -> dict[str, Any]:
        runner = self.world.runners.get(job.runner_id or -1)
        assigned = job.runner_id is not None
        return bodies.job(
            self.base_url(),
            f"{job.owner}/{job.repo}",
            job_id=job.id,
            run_id=job.run_id,
            run_attempt=job.run_attempt,
            status=job.status,
            conclusion=job.conclusion,
            labels=job.labels,
            created=job.created,
            started=job.started,
            completed=job.completed,
            runner_id=job.runner_id,
            runner_name=job.runner_name,
            runner_group_id=(runner.group_id if runner else DEFAULT_GROUP_ID) if assigned else None,
            runner_group_name=DEFAULT_GROUP_NAME if assigned else None,
        )

    def repo_body(self, owner: str, name: str, *, full: bool = True) -> dict[str, Any]:
        repo = self.world.repo(owner, name)
        return bodies.repository(
            self.base_url(), self._owner_user(owner), name, repo.id, repo.created, full=full
        )

    def installation_body(self, owner: str) -> dict[str, Any]:
        inst = self.world.installations[owner]
        return bodies.installation(
            self.base_url(), inst.id, self.app_id, self._owner_user(owner), 0.0, inst.permissions
        )

    @staticmethod
    def _labels_in(req: Request) -> list[str]:
        labels = (req.body or {}).get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise HttpError(422, "Invalid request: labels must be an array of strings")
        return labels

    # ------------------------------------------------------------------ routes

    def routes(self) -> list[Route]:
        r: list[Route] = [
            Route("GET", "/app/installations", self.list_installations, "jwt"),
            Route(
                "POST",
                "/app/installations/{installation_id}/access_tokens",
                self.access_token,
                "jwt",
            ),
            Route("GET", "/orgs/{org}/installation", self.org_installation, "jwt"),
            Route("GET", "/users/{username}/installation", self.user_installation, "jwt"),
            Route("GET", "/repos/{owner}/{repo}/installation", self.repo_installation, "jwt"),
            Route("GET", "/installation/repositories", self.installation_repos, "installation"),
            Route("GET", "/orgs/{org}/actions/runner-groups", self.runner_groups, "token"),
            Route("GET", "/repos/{owner}/{repo}/actions/runs", self.list_runs, "token"),
            Route(
                "GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", self.run_jobs, "token"
            ),
            Route("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}", self.get_job, "token"),
        ]
        for scope in ("/orgs/{org}", "/repos/{owner}/{repo}"):
            base = f"{scope}/actions/runners"
            r += [
                Route("GET", base, self.list_runners, "token"),
                Route("POST", f"{base}/generate-jitconfig", self.jit, "token"),
                Route("POST", f"{base}/registration-token", self.registration_token, "token"),
                Route("POST", f"{base}/remove-token", self.remove_token, "token"),
                Route("GET", f"{base}/{{runner_id}}", self.get_runner, "token"),
                Route("DELETE", f"{base}/{{runner_id}}", self.delete_runner, "token"),
                Route("GET", f"{base}/{{runner_id}}/labels", self.get_labels, "token"),
                Route("POST", f"{base}/{{runner_id}}/labels", self.add_labels, "token"),
                Route("PUT", f"{base}/{{runner_id}}/labels", self.set_labels, "token"),
                Route("DELETE", f"{base}/{{runner_id}}/labels/{{name}}", self.del_label, "token"),
            ]
        return r

    # ------------------------------------------------------------- app routes

    def list_installations(self, req: Request) -> Reply:
        items = [self.installation_body(o) for o in sorted(self.world.installations)]
        for item in items:
            # GitHub's description types this list's `account` as allOf(simple-user,
            # enterprise) (the single-installation endpoints say anyOf), so a body valid
            # against it must also carry the enterprise fields.
            account = item["account"]
            account.update(
                {
                    "name": account["login"],
                    "slug": account["login"],
                    "created_at": item["created_at"],
                    "updated_at": item["updated_at"],
                }
            )
        return Reply(200, items=items)

    def access_token(self, req: Request) -> Reply:
        try:
            inst_id = int(req.params["installation_id"])
        except ValueError as exc:
            raise HttpError(404, "Not Found") from exc
        token, expires = self.world.issue_installation_token(inst_id)
        inst = self.world.installation_by_id(inst_id)
        return Reply(
            201,
            {
                "token": token,
                "expires_at": bodies.iso(expires),
                "permissions": {"metadata": "read", **inst.permissions},
                "repository_selection": "all",
            },
        )

    def _installation_of(self, owner: str, kind: str | None) -> Reply:
        inst = self.world.installations.get(owner)
        if inst is None or (kind is not None and inst.account_type != kind):
            raise HttpError(404, "Not Found")
        return Reply(200, self.installation_body(owner))

    def org_installation(self, req: Request) -> Reply:
        return self._installation_of(req.params["org"], "Organization")

    def user_installation(self, req: Request) -> Reply:
        return self._installation_of(req.params["username"], "User")

    def repo_installation(self, req: Request) -> Reply:
        owner, name = req.params["owner"], req.params["repo"]
        if owner in self.world.installations:
            self.world.repo(owner, name, create=True)
        return self._installation_of(owner, None)

    def installation_repos(self, req: Request) -> Reply:
        assert req.identity is not None and req.identity.installation_id is not None
        inst = self.world.installation_by_id(req.identity.installation_id)
        repos = [r for r in self.world.repos.values() if r.owner == inst.owner]
        items = [self.repo_body(r.owner, r.name) for r in sorted(repos, key=lambda r: r.id)]
        return Reply(
            200, items=items, items_key="repositories", extra={"repository_selection": "all"}
        )

    def runner_groups(self, req: Request) -> Reply:
        owner, _ = self._scope(req)
        groups = self.world.installations[owner].groups
        base = f"{self.base_url()}/orgs/{owner}/actions/runner-groups"
        items = [
            {
                "id": gid,
                "name": name,
                "visibility": "all",
                "default": gid == DEFAULT_GROUP_ID,
                "runners_url": f"{base}/{gid}/runners",
                "inherited": False,
                "allows_public_repositories": False,
                "restricted_to_workflows": False,
                "selected_workflows": [],
                "workflow_restrictions_read_only": False,
            }
            for gid, name in sorted(groups.items())
        ]
        return Reply(200, items=items, items_key="runner_groups")

    # ----------------------------------------------------------- runner routes

    def list_runners(self, req: Request) -> Reply:
        owner, repo = self._scope(req)
        recs = self.world.runners_in(owner, repo)
        if "name" in req.query:
            recs = [r for r in recs if r.name == req.query["name"]]
        return Reply(200, items=Bodies(recs, self.runner_body), items_key="runners")

    def _runner(self, req: Request) -> RunnerRec:
        owner, repo = self._scope(req)
        try:
            return self.world.runner(owner, repo, int(req.params["runner_id"]))
        except ValueError as exc:
            raise HttpError(404, "Not Found") from exc

    def get_runner(self, req: Request) -> Reply:
        return Reply(200, self.runner_body(self._runner(req)))

    def delete_runner(self, req: Request) -> Reply:
        owner, repo = self._scope(req)
        self.world.delete_runner(owner, repo, int(req.params["runner_id"]))
        return Reply(204)

    def jit(self, req: Request) -> Reply:
        owner, repo = self._scope(req)
        body = req.body or {}
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise HttpError(422, "Invalid request: name is required")
        labels = self._labels_in(req)
        group = body.get("runner_group_id")
        if isinstance(group, bool) or not isinstance(group, int):
            raise HttpError(
                422,
                f"Invalid request.\n\nFor 'properties/runner_group_id', {json.dumps(group)} "
                "is not an integer.",
            )
        rec = self.world.create_runner(owner, repo, name, labels, ephemeral=True, group_id=group)
        rec.jit_credential = "jit_" + secrets.token_hex(20)
        work = body.get("work_folder", "_work")
        encoded = jit_config(self.base_url(), owner, repo, rec, str(work))
        return Reply(201, {"runner": self.runner_body(rec), "encoded_jit_config": encoded})

    def _reg_token(self, req: Request, kind: str) -> Reply:
        owner, repo = self._scope(req)
        token, expires = self.world.issue_reg_token(owner, repo, kind)
        return Reply(201, {"token": token, "expires_at": bodies.iso(expires)})

    def registration_token(self, req: Request) -> Reply:
        return self._reg_token(req, "registration")

    def remove_token(self, req: Request) -> Reply:
        return self._reg_token(req, "remove")

    def _labels_reply(self, rec: RunnerRec) -> Reply:
        labels = self._labels(rec)
        return Reply(200, {"total_count": len(labels), "labels": labels})

    def get_labels(self, req: Request) -> Reply:
        return self._labels_reply(self._runner(req))

    def add_labels(self, req: Request) -> Reply:
        rec = self._runner(req)
        rec.labels = list(dict.fromkeys([*rec.labels, *self._labels_in(req)]))
        return self._labels_reply(rec)

    def set_labels(self, req: Request) -> Reply:
        rec = self._runner(req)
        rec.labels = list(dict.fromkeys(self._labels_in(req)))
        return self._labels_reply(rec)

    def del_label(self, req: Request) -> Reply:
        rec = self._runner(req)
        name = req.params["name"]
        if name not in rec.labels:
            raise HttpError(404, f"label {name} not found on runner")
        rec.labels.remove(name)
        return self._labels_reply(rec)

    # -------------------------------------------------------------- job routes

    def _run_status(self, jobs: list[JobRec]) -> tuple[str, str | None]:
        states = {j.status for j in jobs}
        if states == {"completed"}:
            failed = any(j.conclusion not in ("success", "skipped") for j in jobs)
            return "completed", "failure" if failed else "success"
        if "in_progress" in states:
            return "in_progress", None
        return "queued", None

    def list_runs(self, req: Request) -> Reply:
        owner, repo = self._scope(req)
        assert repo is not None
        runs: dict[int, list[JobRec]] = {}
        for job in self.world.jobs.values():
            if (job.owner, job.repo) == (owner, repo):
                runs.setdefault(job.run_id, []).append(job)
        repo_min = self.repo_body(owner, repo, full=False)
        items = []
        for run_id in sorted(runs, reverse=True):
            jobs = runs[run_id]
            status, conclusion = self._run_status(jobs)
            wanted = req.query.get("status")
            if wanted and wanted not in (status, conclusion):
                continue
            created = min(j.created for j in jobs)
            updated = max(j.completed or j.started or j.created for j in jobs)
            items.append(
                bodies.workflow_run(
                    self.base_url(),
                    repo_min,
                    run_id,
                    status,
                    conclusion,
                    created,
                    updated,
                    jobs[0].run_attempt,
                )
            )
        return Reply(200, items=items, items_key="workflow_runs")

    def run_jobs(self, req: Request) -> Reply:
        owner, repo = self._scope(req)
        run_id = int(req.params["run_id"])
        jobs = [
            j
            for j in self.world.jobs.values()
            if (j.owner, j.repo, j.run_id) == (owner, repo, run_id)
        ]
        if not jobs:
            raise HttpError(404, "Not Found")
        return Reply(
            200,
            items=[self.job_body(j) for j in sorted(jobs, key=lambda j: j.id)],
            items_key="jobs",
        )

    def get_job(self, req: Request) -> Reply:
        owner, repo = self._scope(req)
        job = self.world.jobs.get(int(req.params["job_id"]))
        if job is None or (job.owner, job.repo) != (owner, repo):
            raise HttpError(404, "Not Found")
        return Reply(200, self.job_body(job))


def _b64_json(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def jit_config(base_url: str, owner: str, repo: str | None, rec: RunnerRec, work: str) -> str:
    """An encoded JIT config shaped like GitHub's (4-5 KB today): base64 of a JSON object
    holding the runner's three config files, each base64 — `.runner` (settings),
    `.credentials` (OAuth client) and `.credentials_rsaparams` (its 2048-bit RSA key).
    The emulator's own fields (`url`, `credential`, ...) ride in `.runner` and at the top
    level, where runnerfleet.github.emulator_runner reads them.
    """
    scope = f"{owner}/{repo}" if repo else owner
    pool = secrets.token_hex(24)
    runner = {
        "AgentId": rec.id,
        "AgentName": rec.name,
        "DisableUpdate": "True",
        "Ephemeral": "True",
        "PoolId": rec.group_id,
        "PoolName": DEFAULT_GROUP_NAME,
        "ServerUrl": f"{base_url}/_pipelines/{pool}/",
        "GitHubUrl": f"{base_url}/_web/{scope}",
        "WorkFolder": work,
        "UseV2Flow": "True",
        "ServerUrlV2": f"{base_url}/_broker/",
    }
    credentials = {
        "Scheme": "OAuth",
        "Data": {
            "clientId": secrets.token_hex(16),
            "authorizationUrl": f"{base_url}/_pipelines/{pool}/_apis/oauth2/token",
            "requireFipsCryptography": "True",
        },
    }
    files = {
        ".runner": _b64_json(runner),
        ".credentials": _b64_json(credentials),
        ".credentials_rsaparams": _b64_json(_rsa_params()),
    }
    config = {
        **files,
        "url": base_url,
        "owner": owner,
        "repo": repo,
        "runner_id": rec.id,
        "runner_name": rec.name,
        "credential": rec.jit_credential,
    }
    return _b64_json(config)


def _rsa_params() -> dict[str, str]:
    """RSA key parameters as the runner stores them (.NET RSAParameters, base64 each).

    Random bytes of the real sizes (a 2048-bit key): the emulator never uses the key, and
    generating one per JIT config would cost ~50 ms.
    """

    def b64(n: int) -> str:
        return base64.b64encode(secrets.token_bytes(n)).decode()

    return {
        "d": b64(256),
        "dp": b64(128),
        "dq": b64(128),
        "exponent": "AQAB",
        "inverseQ": b64(128),
        "modulus": b64(256),
        "p": b64(128),
        "q": b64(128),
    }


def state_error(exc: EmulatorStateError) -> HttpError:
    return HttpError(exc.status, exc.message)
