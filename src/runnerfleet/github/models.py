"""Typed values the GitHub client returns, parsed from REST API bodies (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Runner:
    """A self-hosted runner as GitHub reports it."""

    id: int
    name: str
    os: str
    status: str  # "online" | "offline"
    busy: bool
    labels: list[str] = field(default_factory=list)
    runner_group_id: int | None = None
    ephemeral: bool = False

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Runner:
        return cls(
            id=int(body["id"]),
            name=str(body["name"]),
            os=str(body["os"]),
            status=str(body["status"]),
            busy=bool(body["busy"]),
            labels=[str(lbl["name"]) for lbl in body.get("labels", [])],
            runner_group_id=body.get("runner_group_id"),
            ephemeral=bool(body.get("ephemeral", False)),
        )


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class RegistrationToken:
    """A registration or remove token. The token is a secret: it is kept out of repr()."""

    token: str = field(repr=False)
    expires_at: datetime

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> RegistrationToken:
        return cls(token=str(body["token"]), expires_at=_parse_time(str(body["expires_at"])))


@dataclass(frozen=True)
class JitConfig:
    """A just-in-time runner configuration. `encoded_jit_config` is secret (not in repr())."""

    runner: Runner
    encoded_jit_config: str = field(repr=False)

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> JitConfig:
        return cls(
            runner=Runner.from_api(body["runner"]),
            encoded_jit_config=str(body["encoded_jit_config"]),
        )


@dataclass(frozen=True)
class RunnerGroup:
    id: int
    name: str
    visibility: str
    default: bool

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> RunnerGroup:
        return cls(
            id=int(body["id"]),
            name=str(body["name"]),
            visibility=str(body["visibility"]),
            default=bool(body["default"]),
        )


@dataclass(frozen=True)
class Repository:
    id: int
    full_name: str
    private: bool

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Repository:
        return cls(
            id=int(body["id"]), full_name=str(body["full_name"]), private=bool(body["private"])
        )


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    status: str | None
    run_attempt: int
    repository: str

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> WorkflowRun:
        return cls(
            id=int(body["id"]),
            status=body.get("status"),
            run_attempt=int(body.get("run_attempt") or 1),
            repository=str(body["repository"]["full_name"]),
        )


@dataclass(frozen=True)
class WorkflowJob:
    id: int
    run_id: int
    status: str
    conclusion: str | None
    labels: list[str]
    runner_id: int | None
    runner_name: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    run_attempt: int = 1
    repository: str = ""  # "owner/name", from the job's API url

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> WorkflowJob:
        def opt(key: str) -> datetime | None:
            v = body.get(key)
            return _parse_time(v) if v else None

        return cls(
            id=int(body["id"]),
            run_id=int(body["run_id"]),
            status=str(body["status"]),
            conclusion=body.get("conclusion"),
            labels=[str(x) for x in body.get("labels", [])],
            runner_id=body.get("runner_id"),
            runner_name=body.get("runner_name"),
            created_at=_parse_time(str(body["created_at"])),
            started_at=opt("started_at"),
            completed_at=opt("completed_at"),
            run_attempt=int(body.get("run_attempt") or 1),
            repository=_repository_of(str(body.get("url") or body.get("run_url") or "")),
        )


def _repository_of(api_url: str) -> str:
    """Return "owner/name" from .../repos/{owner}/{name}/actions/... (also under GHES's /api/v3)."""
    parts = api_url.split("/repos/", 1)
    if len(parts) != 2:
        return ""
    segs = parts[1].split("/")
    return f"{segs[0]}/{segs[1]}" if len(segs) >= 2 else ""
