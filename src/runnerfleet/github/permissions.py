"""The one table of GitHub REST endpoints runnerfleet calls and the App permission each needs.

Three users read it: the client (it names each call by its path template for the call
counters), the emulator (it answers 403 "Resource not accessible by integration" when the
installation lacks the permission, as GitHub does), and `runnerfleet github app-manifest`
(the App manifest asks for exactly the permissions the table requires for the owner kind).

Facts (GitHub's "Permissions required for GitHub Apps" reference): organization runners,
their labels, registration/remove tokens, JIT configs and runner groups need the
organization permission "Self-hosted runners" (`organization_self_hosted_runners`), read
for GET and write otherwise; the same endpoints for a repository need the repository
permission "Administration" (`administration`); workflow runs and jobs need "Actions"
(`actions`) read. `/app/...` and `/.../installation` use the App's JWT (no installation
permission); `/installation/repositories` works with any installation token. "Metadata"
read is granted to every App implicitly, so it is not listed.

Owner kinds: "org" (organization-level runners) and "repo" (repository-level runners, for
an organization or a user account: GitHub has no user-level runners).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

OwnerKind = Literal["org", "repo"]
Level = Literal["read", "write"]
OWNER_KINDS: tuple[OwnerKind, ...] = ("org", "repo")
_RANK = {"read": 1, "write": 2, "admin": 3}

ORG_RUNNERS = "organization_self_hosted_runners"
ADMINISTRATION = "administration"
ACTIONS = "actions"
NOT_ACCESSIBLE = "Resource not accessible by integration"
# On a 403 GitHub lists the permission sets that would do, e.g. "administration=write"
# (sets separated by ";", permissions within a set by ","); see GitHub's changelog,
# 2023-08-10 "X-Accepted-GitHub-Permissions header for fine-grained permission actors".
ACCEPTED_PERMISSIONS_HEADER = "x-accepted-github-permissions"


@dataclass(frozen=True)
class Endpoint:
    """One REST operation: who may call it and, for installation tokens, what it needs."""

    method: str
    template: str
    auth: Literal["jwt", "installation"]
    permission: str | None  # None: no installation permission needed
    level: Level = "read"
    kinds: tuple[OwnerKind, ...] = OWNER_KINDS  # owner kinds whose code path calls it
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"[^/]+", self.template)
        object.__setattr__(self, "regex", re.compile(f"^{pattern}$"))

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def _runner_endpoints(scope: str, permission: str, kind: OwnerKind) -> list[Endpoint]:
    base = f"{scope}/actions/runners"
    rows: list[tuple[str, str, Level]] = [
        ("GET", base, "read"),
        ("POST", f"{base}/generate-jitconfig", "write"),
        ("POST", f"{base}/registration-token", "write"),
        ("POST", f"{base}/remove-token", "write"),
        ("GET", f"{base}/{{runner_id}}", "read"),
        ("DELETE", f"{base}/{{runner_id}}", "write"),
        ("GET", f"{base}/{{runner_id}}/labels", "read"),
        ("POST", f"{base}/{{runner_id}}/labels", "write"),
        ("PUT", f"{base}/{{runner_id}}/labels", "write"),
        ("DELETE", f"{base}/{{runner_id}}/labels/{{name}}", "write"),
    ]
    return [Endpoint(m, t, "installation", permission, lvl, (kind,)) for m, t, lvl in rows]


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/app/installations", "jwt", None),
    Endpoint("POST", "/app/installations/{installation_id}/access_tokens", "jwt", None),
    Endpoint("GET", "/orgs/{org}/installation", "jwt", None),
    Endpoint("GET", "/users/{username}/installation", "jwt", None),
    Endpoint("GET", "/repos/{owner}/{repo}/installation", "jwt", None),
    Endpoint("GET", "/installation/repositories", "installation", None),
    Endpoint(
        "GET", "/orgs/{org}/actions/runner-groups", "installation", ORG_RUNNERS, "read", ("org",)
    ),
    *_runner_endpoints("/orgs/{org}", ORG_RUNNERS, "org"),
    *_runner_endpoints("/repos/{owner}/{repo}", ADMINISTRATION, "repo"),
    Endpoint("GET", "/repos/{owner}/{repo}/actions/runs", "installation", ACTIONS),
    Endpoint("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "installation", ACTIONS),
    Endpoint("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}", "installation", ACTIONS),
)  # fmt: skip


@lru_cache(maxsize=1)
def _by_key() -> dict[str, Endpoint]:
    return {e.key: e for e in ENDPOINTS}


def endpoint(method: str, template: str) -> Endpoint | None:
    """The table's row for (method, path template), or None."""
    return _by_key().get(f"{method.upper()} {template}")


def endpoint_for_path(method: str, path: str) -> Endpoint | None:
    """The table's row whose template matches a concrete path (no query), or None."""
    method = method.upper()
    for row in ENDPOINTS:
        if row.method == method and row.regex.match(path):
            return row
    return None


def required_permissions(kind: OwnerKind) -> dict[str, str]:
    """The installation permissions the code needs for an owner kind (highest level each)."""
    if kind not in OWNER_KINDS:
        raise ValueError(f"owner kind must be one of {OWNER_KINDS}, got {kind!r}")
    out: dict[str, str] = {}
    for row in ENDPOINTS:
        if row.permission is None or kind not in row.kinds:
            continue
        if _RANK[row.level] > _RANK.get(out.get(row.permission, ""), 0):
            out[row.permission] = row.level
    return dict(sorted(out.items()))


def grants(granted: Mapping[str, str], permission: str, level: str) -> bool:
    """Whether `granted` (GitHub's `permissions` object) covers `permission` at `level`."""
    return _RANK.get(str(granted.get(permission, "")), 0) >= _RANK[level]


def missing_permissions(granted: Mapping[str, str], kind: OwnerKind) -> list[str]:
    """Each required permission `granted` lacks, as "name: level" (empty when all held)."""
    return [
        f"{name}: {level}"
        for name, level in required_permissions(kind).items()
        if not grants(granted, name, level)
    ]


def owner_kind(repository: str | None) -> OwnerKind:
    """Org-level runners unless a repository is configured."""
    return "repo" if repository else "org"
