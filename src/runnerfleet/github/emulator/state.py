"""The emulator's in-memory world: installations, repos, runners, jobs, tokens (no I/O).

Thread-safe through one re-entrant lock. Job assignment follows GitHub's rule: a queued job
goes to any idle, online runner in scope whose labels include all of the job's labels
(case-insensitive); a job offered to a runner that does not start it within 60 s goes back
to the queue; ephemeral runners take one job and are then removed. State changes that
GitHub would announce by webhook are appended to `events` as (action, job_id).
A job still queued 24 h after it was created is cancelled (GitHub: "Each job for
self-hosted runners that has been queued for at least 24 hours will be canceled"); `tick`
applies both time rules and is called on every request, so a compressed clock drives them.
Each installation holds the permissions it was granted (default: what docs/operations.md
tells users to grant for its account type); organizations hold runner groups ("Default",
id 1, always exists).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runnerfleet.github.permissions import required_permissions

OFFER_TIMEOUT_SECONDS = 60.0
QUEUE_TIMEOUT_SECONDS = 24 * 3600.0
TOKEN_LIFETIME_SECONDS = 3600.0
REGISTRATION_TOKEN_LIFETIME_SECONDS = 3600.0
DEFAULT_GROUP_ID = 1
DEFAULT_GROUP_NAME = "Default"
READ_ONLY_LABELS = ("self-hosted",)


class EmulatorStateError(Exception):
    """A request the emulated GitHub rejects; `status` is the HTTP status it answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Installation:
    id: int
    owner: str
    account_id: int
    account_type: str  # "Organization" | "User"
    permissions: dict[str, str] = field(default_factory=dict)
    groups: dict[int, str] = field(default_factory=lambda: {DEFAULT_GROUP_ID: DEFAULT_GROUP_NAME})


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    created: float

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class RunnerRec:
    id: int
    name: str
    owner: str
    repo: str | None  # None: org-level runner
    labels: list[str]
    ephemeral: bool
    group_id: int = DEFAULT_GROUP_ID
    os: str = "linux"
    status: str = "offline"
    busy: bool = False
    jit_credential: str | None = None
    jit_used: bool = False
    session: str | None = None
    job_id: int | None = None
    jobs_done: int = 0

    def all_labels(self) -> list[str]:
        return [*READ_ONLY_LABELS, *[x for x in self.labels if x not in READ_ONLY_LABELS]]


@dataclass
class JobRec:
    id: int
    run_id: int
    owner: str
    repo: str
    labels: list[str]
    created: float
    run_attempt: int = 1
    status: str = "queued"  # queued | in_progress | completed
    conclusion: str | None = None
    runner_id: int | None = None
    runner_name: str | None = None
    offered_to: int | None = None
    offered_at: float | None = None
    started: float | None = None
    completed: float | None = None


@dataclass
class RegToken:
    owner: str
    repo: str | None
    expires: float
    kind: str  # "registration" | "remove"


@dataclass
class World:
    """Everything the emulator knows. Methods keep it consistent; callers hold `lock`."""

    clock: Callable[[], float]
    lock: threading.RLock = field(default_factory=threading.RLock)
    installations: dict[str, Installation] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)
    runners: dict[int, RunnerRec] = field(default_factory=dict)
    jobs: dict[int, JobRec] = field(default_factory=dict)
    tokens: dict[str, tuple[int, float]] = field(default_factory=dict)  # token -> (inst, exp)
    reg_tokens: dict[str, RegToken] = field(default_factory=dict)
    events: list[tuple[str, int]] = field(default_factory=list)
    _next: dict[str, int] = field(default_factory=dict)

    def new_id(self, kind: str, start: int = 1) -> int:
        value = self._next.get(kind, start)
        self._next[kind] = value + 1
        return value

    # --------------------------------------------------------- owners/repos

    def add_installation(
        self,
        owner: str,
        account_type: str = "Organization",
        permissions: Mapping[str, str] | None = None,
    ) -> int:
        """Install the App on `owner`; `permissions` None: the documented set for its type.

        Installing again (idempotent) keeps the id and replaces the permissions if given.
        """
        if account_type not in ("Organization", "User"):
            raise EmulatorStateError(
                422, f"account_type must be Organization or User, not {account_type!r}"
            )
        with self.lock:
            if owner in self.installations:
                inst = self.installations[owner]
                if permissions is not None:
                    inst.permissions = dict(permissions)
                return inst.id
            if permissions is None:
                permissions = required_permissions(
                    "org" if account_type == "Organization" else "repo"
                )
            inst = Installation(
                self.new_id("installation", 1000),
                owner,
                self.new_id("account", 5000),
                account_type,
                dict(permissions),
            )
            self.installations[owner] = inst
            return inst.id

    def add_runner_group(self, owner: str, name: str) -> int:
        inst = self.installations.get(owner)
        if inst is None or inst.account_type != "Organization":
            raise EmulatorStateError(404, "Not Found")
        if name in inst.groups.values():
            raise EmulatorStateError(409, f"A runner group named {name} already exists")
        gid = self.new_id("group", 2)
        inst.groups[gid] = name
        return gid

    def installation_by_id(self, ident: int) -> Installation:
        for inst in self.installations.values():
            if inst.id == ident:
                return inst
        raise EmulatorStateError(404, "Not Found")

    def repo(self, owner: str, name: str, *, create: bool = False) -> Repo:
        key = f"{owner}/{name}"
        with self.lock:
            if key not in self.repos:
                if not create:
                    raise EmulatorStateError(404, "Not Found")
                self.add_installation(owner)
                self.repos[key] = Repo(self.new_id("repo", 100), owner, name, self.clock())
            return self.repos[key]

    # --------------------------------------------------------------- tokens

    def issue_installation_token(self, installation_id: int) -> tuple[str, float]:
        self.installation_by_id(installation_id)
        token = "ghs_" + secrets.token_hex(18)
        expires = self.clock() + TOKEN_LIFETIME_SECONDS
        self.tokens[token] = (installation_id, expires)
        return token, expires

    def issue_reg_token(self, owner: str, repo: str | None, kind: str) -> tuple[str, float]:
        token = "A" + secrets.token_hex(14).upper()
        expires = self.clock() + REGISTRATION_TOKEN_LIFETIME_SECONDS
        self.reg_tokens[token] = RegToken(owner, repo, expires, kind)
        return token, expires

    # -------------------------------------------------------------- runners

    def runners_in(self, owner: str, repo: str | None) -> list[RunnerRec]:
        return sorted(
            (r for r in self.runners.values() if r.owner == owner and r.repo == repo),
            key=lambda r: r.id,
        )

    def runner(self, owner: str, repo: str | None, runner_id: int) -> RunnerRec:
        rec = self.runners.get(runner_id)
        if rec is None or rec.owner != owner or rec.repo != repo:
            raise EmulatorStateError(404, "Not Found")
        return rec

    def create_runner(
        self,
        owner: str,
        repo: str | None,
        name: str,
        labels: list[str],
        *,
        ephemeral: bool,
        group_id: int = DEFAULT_GROUP_ID,
    ) -> RunnerRec:
        if any(r.name == name for r in self.runners_in(owner, repo)):
            raise EmulatorStateError(
                409, f"Already exists - A runner with the name {name} already exists."
            )
        if not labels:
            raise EmulatorStateError(422, "Validation Failed: labels must not be empty")
        if repo is None:
            inst = self.installations.get(owner)
            known = inst.groups if inst is not None else {DEFAULT_GROUP_ID: DEFAULT_GROUP_NAME}
        else:  # repository runners have no groups: only the default one
            known = {DEFAULT_GROUP_ID: DEFAULT_GROUP_NAME}
        if group_id not in known:
            raise EmulatorStateError(404, "Not Found")
        rec = RunnerRec(
            self.new_id("runner", 1),
            name,
            owner,
            repo,
            list(dict.fromkeys(labels)),
            ephemeral,
            group_id=group_id,
        )
        self.runners[rec.id] = rec
        return rec

    def delete_runner(self, owner: str, repo: str | None, runner_id: int) -> None:
        rec = self.runner(owner, repo, runner_id)
        if rec.busy:
            raise EmulatorStateError(422, "Bad request - Runner is currently running a job")
        del self.runners[rec.id]

    def connect_jit(self, credential: str) -> RunnerRec:
        for rec in self.runners.values():
            if rec.jit_credential == credential:
                if rec.jit_used:
                    raise EmulatorStateError(401, "JIT configuration has already been used")
                rec.jit_used = True
                return self._online(rec)
        raise EmulatorStateError(401, "Unknown or revoked JIT configuration")

    def register_with_token(
        self,
        owner: str,
        repo: str | None,
        token: str,
        name: str,
        labels: list[str],
        ephemeral: bool,
    ) -> RunnerRec:
        reg = self.reg_tokens.get(token)
        if reg is None or reg.kind != "registration" or (reg.owner, reg.repo) != (owner, repo):
            raise EmulatorStateError(401, "Invalid registration token for this owner/repo")
        if reg.expires <= self.clock():
            raise EmulatorStateError(401, "Registration token expired")
        rec = self.create_runner(owner, repo, name, labels, ephemeral=ephemeral)
        return self._online(rec)

    def _online(self, rec: RunnerRec) -> RunnerRec:
        rec.status = "online"
        rec.session = "rs_" + secrets.token_hex(16)
        return rec

    def by_session(self, session: str) -> RunnerRec:
        for rec in self.runners.values():
            if rec.session is not None and secrets.compare_digest(rec.session, session):
                return rec
        raise EmulatorStateError(401, "Runner session unknown (runner removed or disconnected)")

    def set_offline(self, rec: RunnerRec) -> None:
        rec.status = "offline"
        rec.session = None
        if rec.job_id is not None:
            job = self.jobs[rec.job_id]
            if job.status == "queued":  # offered but never started: back to the queue
                self._requeue(job)
                rec.busy, rec.job_id = False, None

    # ----------------------------------------------------------------- jobs

    def enqueue_job(
        self, owner: str, repo: str, labels: list[str], run_id: int | None = None
    ) -> int:
        self.repo(owner, repo, create=True)
        rid = run_id if run_id is not None else self.new_id("run", 7000)
        job = JobRec(self.new_id("job", 90000), rid, owner, repo, list(labels), self.clock())
        self.jobs[job.id] = job
        self.events.append(("queued", job.id))
        return job.id

    def _requeue(self, job: JobRec) -> None:
        job.offered_to = job.offered_at = None

    def tick(self) -> None:
        """Apply the time rules: expired offers go back to the queue; day-old jobs cancel."""
        self.expire_offers()
        self.expire_queued()

    def expire_queued(self) -> None:
        now = self.clock()
        for job in self.jobs.values():
            if job.status == "queued" and now - job.created >= QUEUE_TIMEOUT_SECONDS:
                rec = self.runners.get(job.offered_to or -1)
                if rec is not None and rec.job_id == job.id:
                    rec.busy, rec.job_id = False, None
                job.status, job.conclusion, job.completed = "completed", "cancelled", now
                job.offered_to = job.offered_at = None
                self.events.append(("completed", job.id))

    def expire_offers(self) -> None:
        now = self.clock()
        for job in self.jobs.values():
            offered = job.offered_at
            if job.status == "queued" and offered is not None:
                if now - offered < OFFER_TIMEOUT_SECONDS:
                    continue
                rec = self.runners.get(job.offered_to or -1)
                if rec is not None and rec.job_id == job.id:
                    rec.busy, rec.job_id = False, None
                self._requeue(job)

    @staticmethod
    def matches(rec: RunnerRec, job: JobRec) -> bool:
        have = {x.lower() for x in rec.all_labels()}
        return all(x.lower() in have for x in job.labels)

    def poll(self, rec: RunnerRec) -> JobRec | None:
        """Offer the oldest matching queued job to an idle online runner."""
        self.tick()
        if rec.status != "online":
            raise EmulatorStateError(409, "runner is offline")
        if rec.job_id is not None:
            return self.jobs[rec.job_id]
        if rec.ephemeral and rec.jobs_done:
            return None
        for job in sorted(self.jobs.values(), key=lambda j: j.id):
            in_scope = job.owner == rec.owner and (rec.repo is None or rec.repo == job.repo)
            free = job.status == "queued" and job.offered_to is None
            if free and in_scope and self.matches(rec, job):
                job.offered_to, job.offered_at = rec.id, self.clock()
                rec.busy, rec.job_id = True, job.id
                return job
        return None

    def start(self, rec: RunnerRec, job_id: int) -> JobRec:
        self.tick()
        job = self.jobs.get(job_id)
        if job is None or job.offered_to != rec.id or rec.job_id != job_id:
            raise EmulatorStateError(409, "job is not offered to this runner (offer expired?)")
        if job.status == "queued":
            job.status, job.started = "in_progress", self.clock()
            job.runner_id, job.runner_name = rec.id, rec.name
            self.events.append(("in_progress", job.id))
        return job

    def complete(self, rec: RunnerRec, job_id: int, conclusion: str) -> JobRec:
        job = self.jobs.get(job_id)
        if job is None or job.runner_id != rec.id or job.status != "in_progress":
            raise EmulatorStateError(409, "job is not running on this runner")
        job.status, job.conclusion, job.completed = "completed", conclusion, self.clock()
        rec.busy, rec.job_id = False, None
        rec.jobs_done += 1
        self.events.append(("completed", job.id))
        if rec.ephemeral:
            del self.runners[rec.id]
        return job
