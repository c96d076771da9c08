"""The App manifest asks for exactly what the emulator (GitHub's rules) requires of the calls
the code makes: derived here by running those calls against installations granted the
manifest's permissions, then each one less."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from github_fakes import MakeClient

from runnerfleet.github.app_setup import (
    PLACEHOLDER_WEBHOOK_URL,
    app_manifest,
    check_installation,
    manifest_form,
    new_app_url,
)
from runnerfleet.github.client import AppAuth, GitHubClient
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.errors import AuthError
from runnerfleet.github.permissions import ENDPOINTS, NOT_ACCESSIBLE, OwnerKind

Workload = Callable[[GitHubClient], object]


def _code_paths(owner: str, repo: str | None, emulator: GitHubEmulator) -> list[Workload]:
    """Every GitHub call the control plane makes for this scope (registrar, scaler,
    reconciler, discovery, deploy's deregistration), one workload each."""

    def jit(c: GitHubClient) -> None:
        j = c.generate_jit_config(owner, repo, name=f"w-{repo}", labels=["linux"])
        c.get_runner(owner, repo, j.runner.id)
        c.find_runner(owner, repo, j.runner.name)
        c.add_runner_labels(owner, repo, j.runner.id, ["x"])
        c.set_runner_labels(owner, repo, j.runner.id, ["y"])
        c.list_runner_labels(owner, repo, j.runner.id)
        c.remove_runner_label(owner, repo, j.runner.id, "y")
        c.delete_runner(owner, repo, j.runner.id)

    def discovery(c: GitHubClient) -> None:
        emulator.enqueue_job(owner, "app", ["linux"])
        jobs = c.list_queued_jobs()
        assert jobs
        c.get_job(owner, "app", jobs[0].id)

    paths: list[Workload] = [
        lambda c: c.list_runners(owner, repo),
        lambda c: c.create_registration_token(owner, repo),
        lambda c: c.create_remove_token(owner, repo),
        jit,
        discovery,
    ]

    def group(c: GitHubClient) -> None:
        c.generate_jit_config(owner, None, name="g", labels=["x"], runner_group="Default")

    if repo is None:
        paths.append(group)
    return paths


def _run_all(client: GitHubClient, paths: list[Workload]) -> list[str]:
    denied = []
    for i, work in enumerate(paths):
        try:
            work(client)
        except AuthError as exc:
            assert exc.status == 403 and NOT_ACCESSIBLE in str(exc), exc
            denied.append(f"{i}: {exc}")
    return denied


@pytest.mark.parametrize(("kind", "repo"), [("org", None), ("repo", "app")])
def test_manifest_permissions_are_what_the_emulator_requires(
    make_client: MakeClient, emulator: GitHubEmulator, kind: OwnerKind, repo: str | None
) -> None:
    owner = f"own-{kind}"
    manifest = app_manifest("fleet", "https://github.com", owner, repo, None)
    perms = manifest["default_permissions"]
    assert manifest["default_events"] == ["workflow_job"]
    inst = emulator.add_installation(owner, permissions=perms)
    client = make_client(AppAuth(emulator.app_id, emulator.app_private_key_pem, inst))
    assert _run_all(client, _code_paths(owner, repo, emulator)) == []  # sufficient
    # the workloads reach every permission-guarded endpoint of the table for this owner
    # kind, so "each one less breaks a call" below is judged over all of them
    called = set(client.stats().calls)
    guarded = {e.key for e in ENDPOINTS if e.permission is not None and kind in e.kinds}
    assert guarded <= called, sorted(guarded - called)
    for name in perms:  # necessary: each one less breaks a call the code makes
        emulator.set_permissions(owner, {k: v for k, v in perms.items() if k != name})
        fresh = make_client(AppAuth(emulator.app_id, emulator.app_private_key_pem, inst))
        assert _run_all(fresh, _code_paths(owner, repo, emulator)), name
        if perms[name] == "write":
            emulator.set_permissions(owner, {**perms, name: "read"})
            fresh = make_client(AppAuth(emulator.app_id, emulator.app_private_key_pem, inst))
            assert _run_all(fresh, _code_paths(owner, repo, emulator)), f"{name}: read"
        emulator.set_permissions(owner, perms)


def test_manifest_shape_and_webhook() -> None:
    m = app_manifest("myfleet", "https://github.com", "acme", None, "https://x.lambda-url.aws/")
    assert set(m) == {
        "name",
        "url",
        "description",
        "public",
        "hook_attributes",
        "default_events",
        "default_permissions",
    }
    assert m["hook_attributes"] == {"url": "https://x.lambda-url.aws/", "active": True}
    assert m["url"] == "https://github.com/acme" and m["public"] is False
    placeholder = app_manifest("a" * 40, "https://github.com", "acme", None, None)
    assert placeholder["hook_attributes"] == {"url": PLACEHOLDER_WEBHOOK_URL, "active": False}
    assert len(placeholder["name"]) <= 34
    action = new_app_url("https://github.com", "acme")
    assert action == "https://github.com/organizations/acme/settings/apps/new"
    assert new_app_url("https://ghe.example.com", "me", "User") == (
        "https://ghe.example.com/settings/apps/new"
    )
    page = manifest_form(m, action)
    assert f'action="{action}" method="post"' in page
    value = page.split('name="manifest" value="', 1)[1].split('"', 1)[0]
    import html

    assert json.loads(html.unescape(value)) == m


def test_check_names_what_is_missing(make_client: MakeClient, emulator: GitHubEmulator) -> None:
    inst = emulator.add_installation("half", permissions={"actions": "read"})
    client = make_client(AppAuth(emulator.app_id, emulator.app_private_key_pem, inst))
    check = check_installation(client, inst, "half", None)
    assert not check.ok
    assert check.missing == ["organization_self_hosted_runners: write"]
    assert any("organization_self_hosted_runners: write" in p for p in check.problems)
    wrong = check_installation(client, inst, "someone-else", None)
    assert any("not on someone-else" in p for p in wrong.problems)
    user = emulator.add_installation("solo", account_type="User")
    assert check_installation(client, user, "solo", "dotfiles").ok
    assert any("user account" in p for p in check_installation(client, user, "solo", None).problems)
