"""JSON bodies the emulator returns, shaped like api.github.com's (pure functions).

Every builder fills the fields GitHub's OpenAPI description marks as required, so the
responses validate against the vendored description (see runnerfleet.github.spec).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

_REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC timestamp as GitHub writes it (second precision, `Z`)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


def web_url(api: str) -> str:
    """The emulator serves the web UI URLs under /_web (never fetched, just well-formed)."""
    return f"{api}/_web"


def user(api: str, login: str, ident: int, kind: str = "Organization") -> dict[str, Any]:
    u = f"{api}/users/{login}"
    return {
        "login": login,
        "id": ident,
        "node_id": node_id("User", ident),
        "avatar_url": f"{web_url(api)}/avatars/{ident}",
        "gravatar_id": "",
        "url": u,
        "html_url": f"{web_url(api)}/{login}",
        "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}",
        "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs",
        "repos_url": f"{u}/repos",
        "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events",
        "type": kind,
        "site_admin": False,
    }


def repository(
    api: str, owner: dict[str, Any], name: str, ident: int, created: float, *, full: bool = True
) -> dict[str, Any]:
    """A repository; `full=False` gives the minimal-repository shape."""
    full_name = f"{owner['login']}/{name}"
    base = f"{api}/repos/{full_name}"
    body: dict[str, Any] = {
        "id": ident,
        "node_id": node_id("Repository", ident),
        "name": name,
        "full_name": full_name,
        "owner": owner,
        "private": True,
        "html_url": f"{web_url(api)}/{full_name}",
        "description": None,
        "fork": False,
        "url": base,
    }
    body.update({k: base + v for k, v in _REPO_URLS.items()})
    if not full:
        return body
    git = f"{web_url(api)}/{full_name}.git"
    body.update(
        {
            "clone_url": git,
            "git_url": git,
            "ssh_url": git,
            "svn_url": f"{web_url(api)}/{full_name}",
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "default_branch": "main",
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "open_issues": 0,
            "open_issues_count": 0,
            "size": 0,
            "has_downloads": True,
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "archived": False,
            "disabled": False,
            "license": None,
            "pushed_at": iso(created),
            "created_at": iso(created),
            "updated_at": iso(created),
        }
    )
    return body


def runner_label(name: str, ident: int, custom: bool) -> dict[str, Any]:
    return {"id": ident, "name": name, "type": "custom" if custom else "read-only"}


def installation(
    api: str,
    ident: int,
    app_id: int,
    account: dict[str, Any],
    created: float,
    permissions: dict[str, str],
) -> dict[str, Any]:
    return {
        "id": ident,
        "app_id": app_id,
        "app_slug": "runnerfleet-emulator",
        "client_id": f"Iv1.emulator{app_id}",
        "target_id": account["id"],
        "target_type": account["type"],
        "account": account,
        "single_file_name": None,
        "repository_selection": "all",
        "access_tokens_url": f"{api}/app/installations/{ident}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{web_url(api)}/organizations/{account['login']}/settings/installations",
        "events": ["workflow_job"],
        "permissions": {"metadata": "read", **permissions},
        "created_at": iso(created),
        "updated_at": iso(created),
        "suspended_by": None,
        "suspended_at": None,
    }


def workflow_run(
    api: str,
    repo_min: dict[str, Any],
    run_id: int,
    status: str,
    conclusion: str | None,
    created: float,
    updated: float,
    run_attempt: int,
) -> dict[str, Any]:
    base = f"{api}/repos/{repo_min['full_name']}/actions/runs/{run_id}"
    sha = f"{run_id:040x}"
    return {
        "id": run_id,
        "node_id": node_id("WorkflowRun", run_id),
        "name": "CI",
        "head_branch": "main",
        "head_sha": sha,
        "path": ".github/workflows/ci.yml",
        "display_title": "CI",
        "run_number": run_id,
        "run_attempt": run_attempt,
        "event": "push",
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 1,
        "url": base,
        "html_url": f"{web_url(api)}/{repo_min['full_name']}/actions/runs/{run_id}",
        "pull_requests": [],
        "created_at": iso(created),
        "updated_at": iso(updated),
        "jobs_url": f"{base}/jobs",
        "logs_url": f"{base}/logs",
        "check_suite_url": f"{api}/repos/{repo_min['full_name']}/check-suites/{run_id}",
        "artifacts_url": f"{base}/artifacts",
        "cancel_url": f"{base}/cancel",
        "rerun_url": f"{base}/rerun",
        "workflow_url": f"{api}/repos/{repo_min['full_name']}/actions/workflows/1",
        "head_commit": {
            "id": sha,
            "tree_id": sha,
            "message": "emulated commit",
            "timestamp": iso(created),
            "author": {"name": "octocat", "email": "octocat@example.com"},
            "committer": {"name": "octocat", "email": "octocat@example.com"},
        },
        "repository": repo_min,
        "head_repository": repo_min,
    }


def job(
    api: str,
    full_name: str,
    *,
    job_id: int,
    run_id: int,
    run_attempt: int,
    status: str,
    conclusion: str | None,
    labels: list[str],
    created: float,
    started: float | None,
    completed: float | None,
    runner_id: int | None,
    runner_name: str | None,
    runner_group_id: int | None,
    runner_group_name: str | None,
) -> dict[str, Any]:
    """A workflow job (the REST `job` shape; webhooks reuse it with small differences)."""
    return {
        "id": job_id,
        "run_id": run_id,
        "run_url": f"{api}/repos/{full_name}/actions/runs/{run_id}",
        "run_attempt": run_attempt,
        "node_id": node_id("CheckRun", job_id),
        "head_sha": f"{run_id:040x}",
        "url": f"{api}/repos/{full_name}/actions/jobs/{job_id}",
        "html_url": f"{web_url(api)}/{full_name}/actions/runs/{run_id}/job/{job_id}",
        "status": status,
        "conclusion": conclusion,
        "created_at": iso(created),
        "started_at": iso(started if started is not None else created),
        "completed_at": iso(completed),
        "name": "build",
        "steps": [],
        "check_run_url": f"{api}/repos/{full_name}/check-runs/{job_id}",
        "labels": labels,
        "runner_id": runner_id,
        "runner_name": runner_name,
        "runner_group_id": runner_group_id,
        "runner_group_name": runner_group_name,
        "workflow_name": "CI",
        "head_branch": "main",
    }


def error(message: str, status: int) -> dict[str, Any]:
    return {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": str(status),
    }
