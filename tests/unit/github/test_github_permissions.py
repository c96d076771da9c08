"""The one permission table, and the emulator refusing what GitHub refuses with it.

GitHub answers an installation token that lacks the permission an endpoint needs with
403 "Resource not accessible by integration"; the emulator must do the same, per endpoint,
from runnerfleet.github.permissions.ENDPOINTS (which the App manifest also uses).
"""

from __future__ import annotations

import re

import httpx
import pytest
from github_fakes import MakeClient

from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.errors import AuthError
from runnerfleet.github.permissions import (
    ENDPOINTS,
    NOT_ACCESSIBLE,
    Endpoint,
    missing_permissions,
    required_permissions,
)

GUARDED = [e for e in ENDPOINTS if e.permission is not None]
VALUES = {
    "org": "perm",
    "owner": "perm",
    "repo": "app",
    "runner_id": "1",
    "name": "x",
    "run_id": "7000",
    "job_id": "90000",
    "installation_id": "1",
    "username": "perm",
}


def _path(row: Endpoint) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)], row.template)


def _call(emulator: GitHubEmulator, row: Endpoint, token: str) -> httpx.Response:
    body = {"name": "r", "labels": ["x"], "runner_group_id": 1} if row.method != "GET" else None
    return httpx.request(
        row.method,
        emulator.url + _path(row),
        json=body,
        headers={"Authorization": f"Bearer {token}", "X-GitHub-Api-Version": "2022-11-28"},
        timeout=10,
    )


def _token(emulator: GitHubEmulator, owner: str) -> str:
    with emulator.world.lock:
        inst = emulator.world.installations[owner]
        return emulator.world.issue_installation_token(inst.id)[0]


def test_required_permissions_per_owner_kind() -> None:
    assert required_permissions("org") == {
        "actions": "read",
        "organization_self_hosted_runners": "write",
    }
    assert required_permissions("repo") == {"actions": "read", "administration": "write"}
    with pytest.raises(ValueError, match="owner kind"):
        required_permissions("user")  # type: ignore[arg-type]  # deliberately not an owner kind
    granted = {"actions": "read", "organization_self_hosted_runners": "read"}
    assert missing_permissions(granted, "org") == ["organization_self_hosted_runners: write"]
    assert missing_permissions({"administration": "write"}, "repo") == ["actions: read"]


def test_emulator_routes_and_table_agree(emulator: GitHubEmulator) -> None:
    """Every REST route the emulator serves is in the table and vice versa (same auth)."""
    served = {(r.method, r.template): r.auth for r in emulator.api.routes()}
    table = {(e.method, e.template): e.auth for e in ENDPOINTS}
    assert served.keys() == table.keys()
    for key, auth in table.items():
        want = "jwt" if auth == "jwt" else {"installation", "token"}
        assert served[key] == want or served[key] in want, key


@pytest.mark.parametrize("row", GUARDED, ids=lambda e: e.key)
def test_each_endpoint_needs_its_permission(emulator: GitHubEmulator, row: Endpoint) -> None:
    """Without the permission (or with read where write is needed): 403 as GitHub says it.
    With it, the same request gets past the check (whatever the handler then answers)."""
    assert row.permission is not None
    everything = {**required_permissions("org"), **required_permissions("repo")}
    lacking = {k: v for k, v in everything.items() if k != row.permission}
    if row.level == "write":
        lacking[row.permission] = "read"  # read is not enough to write
    emulator.add_installation("perm", permissions=lacking)
    denied = _call(emulator, row, _token(emulator, "perm"))
    assert denied.status_code == 403, denied.text
    assert denied.json()["message"] == NOT_ACCESSIBLE
    assert denied.headers["x-accepted-github-permissions"] == f"{row.permission}={row.level}"
    emulator.set_permissions("perm", everything)
    allowed = _call(emulator, row, _token(emulator, "perm"))
    assert allowed.status_code != 403, allowed.text


def test_documented_defaults_per_account_type(
    make_client: MakeClient, emulator: GitHubEmulator
) -> None:
    """An installation made without permissions gets what the docs tell users to grant:
    org runners for an organization, repository administration for a user account."""
    emulator.add_installation("neworg")
    emulator.add_installation("someone", account_type="User")
    client = make_client()
    assert client.list_runners("neworg") == []
    with pytest.raises(AuthError, match=NOT_ACCESSIBLE) as err:
        client.list_runners("neworg", "app")  # repository runners need administration
    assert err.value.status == 403
    assert "the App needs administration=read" in str(err.value)  # from GitHub's header
    assert client.list_runners("someone", "dotfiles") == []
    granted = {i.owner: i.permissions for i in emulator.world.installations.values()}
    assert granted["neworg"] == required_permissions("org")
    assert granted["someone"] == required_permissions("repo")


def test_token_and_installation_report_the_granted_permissions(
    make_client: MakeClient, emulator: GitHubEmulator
) -> None:
    """GitHub returns the installation's permissions in the access-token answer (what
    `runnerfleet github configure` checks), with metadata read always granted."""
    inst = emulator.add_installation("narrow", permissions={"actions": "read"})
    client = make_client()
    assert client.installation_permissions(inst) == {"metadata": "read", "actions": "read"}
