"""Rules for .github/workflows: pinned actions, least-privilege permissions, and the deploy
contract (OIDC only, one concurrency group for deploy and destroy, typed confirmation,
drift issue).

PERMISSIONS below is the table of what each job needs, with the reason. A job may grant no
more than its row (and no less, or it fails at run time). Change a row only together with
the workflow, and keep the reason true.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import wfcheck

PERMISSIONS: dict[str, dict[str, dict[str, str]]] = {
    "ci.yml": {
        "lint": {"contents": "read"},  # checkout
        "test": {"contents": "read"},  # checkout
        "terraform": {"contents": "read"},  # checkout
        "checkov": {"contents": "read"},  # checkout
        "workflows": {"contents": "read"},  # checkout
    },
    "deploy.yml": {
        # checkout; OIDC token for the plan role. No write token next to pull-request code.
        "plan": {"contents": "read", "id-token": "write"},
        # post or update the plan comment; runs no repository code
        "comment": {"pull-requests": "write"},
        # checkout; OIDC for the apply role; find the merged PR (pull-requests) and download
        # the reviewed plan artifact of its run (actions)
        "apply": {
            "actions": "read",
            "contents": "read",
            "id-token": "write",
            "pull-requests": "read",
        },
    },
    "destroy.yml": {
        "confirm": {"contents": "read"},  # checkout to read the fleet name from the config
        "destroy": {"contents": "read", "id-token": "write"},  # checkout; OIDC apply role
    },
    "drift.yml": {
        "detect": {"contents": "read", "id-token": "write"},  # checkout; OIDC plan role
        "issue": {"issues": "write"},  # open, update or close the one drift issue
    },
}

WORKFLOW_FILES = wfcheck.workflow_files()
NAMES = [p.name for p in WORKFLOW_FILES]


def _wf(name: str) -> dict[str, Any]:
    return wfcheck.load(wfcheck.WORKFLOWS / name)


def test_the_four_workflows_exist() -> None:
    assert set(NAMES) == set(PERMISSIONS), (
        f"workflows {sorted(NAMES)} and the permissions table {sorted(PERMISSIONS)} differ"
    )


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=NAMES)
def test_actions_are_pinned_to_full_commit_shas(path: Path) -> None:
    problems = wfcheck.pin_problems(path)
    assert not problems, "\n".join(problems)
    assert wfcheck.all_uses(wfcheck.load(path)), f"{path.name} uses no action at all?"


def test_one_sha_per_action_across_workflows() -> None:
    shas: dict[str, set[str]] = {}
    for path in WORKFLOW_FILES:
        for _, ref in wfcheck.all_uses(wfcheck.load(path)):
            action, _, sha = ref.partition("@")
            shas.setdefault(action, set()).add(sha)
    mixed = {a: s for a, s in shas.items() if len(s) > 1}
    assert not mixed, f"pin each action to one commit everywhere: {mixed}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=NAMES)
def test_permissions_match_the_table(path: Path) -> None:
    problems = wfcheck.permission_problems(path, PERMISSIONS[path.name])
    assert not problems, "\n".join(problems)


def test_checks_catch_unpinned_actions_and_broad_permissions() -> None:
    bad = wfcheck.FIXTURES / "overbroad.yml"
    pins = wfcheck.pin_problems(bad)
    assert any("actions/checkout@v4 is not pinned" in p for p in pins), pins
    assert any("actions/setup-python@a26af69 is not pinned" in p for p in pins), pins
    assert not any("./.github/actions/local" in p for p in pins), "local actions need no pin"
    perms = wfcheck.permission_problems(bad, {"build": {"contents": "read"}})
    assert any("top-level permissions must be {}" in p for p in perms), perms
    assert any("grants contents: write, but needs read" in p for p in perms), perms
    assert any("grants id-token: write, but needs none" in p for p in perms), perms
    too_narrow = wfcheck.permission_problems(
        bad, {"build": {"contents": "write", "id-token": "write", "issues": "write"}}
    )
    assert any("needs issues: write" in p for p in too_narrow), too_narrow


def test_no_stored_aws_keys_and_oidc_roles_come_from_variables() -> None:
    for path in WORKFLOW_FILES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"aws-access-key-id|aws-secret-access-key|AWS_SECRET", text), (
            f"{path.name}: AWS access goes through OIDC only"
        )
        assert "pull_request_target" not in text, f"{path.name}: never run PR code with secrets"
    roles = {}
    for name in ("deploy.yml", "destroy.yml", "drift.yml"):
        for job_id, job in _wf(name)["jobs"].items():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"):
                    roles[(name, job_id)] = step["with"]["role-to-assume"]
    assert roles == {
        ("deploy.yml", "plan"): "${{ vars.AWS_PLAN_ROLE_ARN }}",
        ("deploy.yml", "apply"): "${{ vars.AWS_APPLY_ROLE_ARN }}",
        ("destroy.yml", "destroy"): "${{ vars.AWS_APPLY_ROLE_ARN }}",
        ("drift.yml", "detect"): "${{ vars.AWS_PLAN_ROLE_ARN }}",
    }


def test_jobs_with_the_apply_role_run_in_production_and_others_do_not() -> None:
    for name in NAMES:
        for job_id, job in _wf(name)["jobs"].items():
            text = str(job)
            if "AWS_APPLY_ROLE_ARN" in text:
                assert job.get("environment") == "production", f"{name}:{job_id}"
            else:
                assert job.get("environment") != "production", f"{name}:{job_id}"


def test_deploy_and_destroy_share_one_concurrency_group_that_never_cancels() -> None:
    apply = _wf("deploy.yml")["jobs"]["apply"]["concurrency"]
    destroy = _wf("destroy.yml")["jobs"]["destroy"]["concurrency"]
    assert apply == destroy == {"group": "runnerfleet-deploy", "cancel-in-progress": False}
    # no other job may join that group: a pending member replaces another pending one
    for name in NAMES:
        wf = _wf(name)
        assert wf.get("concurrency", {}).get("group") != "runnerfleet-deploy", name
        for job_id, job in wf["jobs"].items():
            if (name, job_id) in {("deploy.yml", "apply"), ("destroy.yml", "destroy")}:
                continue
            assert (job.get("concurrency") or {}).get("group") != "runnerfleet-deploy", job_id


def test_deploy_plans_on_prs_and_applies_the_saved_plan_on_main() -> None:
    wf = _wf("deploy.yml")
    assert set(wf["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert wf["on"]["push"]["branches"] == ["main"]
    jobs = wf["jobs"]
    plan_run = "\n".join(s.get("run", "") for s in jobs["plan"]["steps"])
    assert "runnerfleet plan --aws --out plan.tfplan --json" in plan_run
    assert "head.repo.full_name == github.repository" in jobs["plan"]["if"], "no fork PR plans"
    assert "GITHUB_STEP_SUMMARY" in "\n".join(s.get("run", "") for s in jobs["plan"]["steps"])
    assert any("issues.updateComment" in str(s.get("with", {})) for s in jobs["comment"]["steps"])
    apply_steps = jobs["apply"]["steps"]
    runs = [s.get("run", "") for s in apply_steps]
    i_plan = next(i for i, r in enumerate(runs) if "runnerfleet plan --aws --out plan.tfplan" in r)
    i_cmp = next(
        i for i, s in enumerate(apply_steps) if s.get("name") == "Compare with the reviewed plan"
    )
    i_apply = next(i for i, r in enumerate(runs) if "runnerfleet apply --aws plan.tfplan" in r)
    assert i_plan < i_cmp < i_apply, "plan, compare with the reviewed digest, then apply"
    assert 'if [ "$REVIEWED" != "$CURRENT" ]' in runs[i_cmp] and "exit 1" in runs[i_cmp]
    assert "sha256sum --check" in runs[i_apply], "the applied file is the one that was compared"
    assert "refs/heads/main" in jobs["apply"]["if"]


def test_destroy_requires_the_typed_fleet_name_and_deregisters_first() -> None:
    wf = _wf("destroy.yml")
    assert set(wf["on"]) == {"workflow_dispatch"}
    assert wf["on"]["workflow_dispatch"]["inputs"]["confirm"]["required"] is True
    check = wf["jobs"]["confirm"]["steps"][-1]
    assert check["env"]["TYPED"] == "${{ inputs.confirm }}"
    assert '[ "$TYPED" != "$fleet" ]' in check["run"] and "exit 1" in check["run"]
    assert "${{" not in check["run"], "inputs reach the script through env only"
    destroy = wf["jobs"]["destroy"]
    assert destroy["needs"] == "confirm"
    runs = [s.get("run", "") for s in destroy["steps"]]
    assert any(r.startswith("runnerfleet down --aws --yes") for r in runs)


def test_drift_runs_on_a_schedule_and_keeps_one_issue() -> None:
    wf = _wf("drift.yml")
    assert wf["on"]["schedule"] and "workflow_dispatch" in wf["on"]
    detect = wf["jobs"]["detect"]
    run = next(s["run"] for s in detect["steps"] if s.get("id") == "plan")
    assert "runnerfleet plan --aws" in run and "exit_code=" in run
    fail = detect["steps"][-1]["run"]
    assert "3)" in fail and "exit 1" in fail, "drift must fail the run visibly"
    script = wf["jobs"]["issue"]["steps"][-1]["with"]["script"]
    assert "issues.listForRepo" in script and 'labels: "drift"' in script
    assert "issues.create(" in script and "issues.update(" in script


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=NAMES)
def test_untrusted_input_never_enters_a_script(path: Path) -> None:
    """`${{ inputs.* }}` and PR text go through env:, never straight into run: or script:."""
    wf = wfcheck.load(path)
    risky = re.compile(
        r"\$\{\{\s*(inputs\.|github\.event\.(pull_request\.(title|body)|comment|issue))"
    )
    for job_id, job in wf["jobs"].items():
        for step in job.get("steps", []):
            body = step.get("run", "") + str((step.get("with") or {}).get("script", ""))
            assert not risky.search(body), f"{path.name}:{job_id}: {step.get('name')}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=NAMES)
def test_checkouts_do_not_persist_credentials(path: Path) -> None:
    for job_id, job in wfcheck.load(path)["jobs"].items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, job_id


def test_reviewed_plan_goes_from_pr_to_apply_as_an_artifact_without_the_plan_file() -> None:
    jobs = _wf("deploy.yml")["jobs"]
    upload = next(s for s in jobs["plan"]["steps"] if "upload-artifact" in str(s.get("uses")))
    assert upload["with"]["name"] == "runnerfleet-plan-${{ github.event.pull_request.head.sha }}"
    assert upload["with"]["path"].split() == ["plan.json", "plan-summary.md"]
    assert "tfplan" not in str(upload["with"]), "the plan file (sensitive values) never leaves"
    steps = jobs["apply"]["steps"]
    download = next(s for s in steps if "download-artifact" in str(s.get("uses")))
    assert download["with"]["name"] == "runnerfleet-plan-${{ steps.pr.outputs.head }}"
    assert download["with"]["run-id"] == "${{ steps.pr.outputs.run_id }}"
    find = next(s for s in steps if s.get("id") == "pr")
    script = find["with"]["script"]
    assert "listPullRequestsAssociatedWithCommit" in script and "merge_commit_sha === sha" in script
    assert 'status: "success"' in script and "head_sha: pr.head.sha" in script
    reviewed = next(s for s in steps if s.get("id") == "reviewed")
    assert "reviewed/plan.json" in reviewed["run"]


def test_workflows_install_the_pinned_cli_and_terraform() -> None:
    """A fresh repository has no source tree: the CLI comes pinned, with its modules."""
    import tomllib

    version = tomllib.loads((wfcheck.REPO / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]["version"]
    for name in ("deploy.yml", "destroy.yml", "drift.yml"):
        wf = _wf(name)
        assert wf["env"]["RF_CLI_SPEC"] == (
            "${{ vars.RUNNERFLEET_CLI_SPEC || 'runnerfleet==" + version + "' }}"
        ), f"{name}: pin the CLI to this release ({version})"
        # RUNNERFLEET_* variables are config overrides (runnerfleet.config.env_overrides)
        reserved = {"RUNNERFLEET_CONFIG"}
        assert {k for k in wf["env"] if k.startswith("RUNNERFLEET_")} <= reserved, name
        assert re.fullmatch(r"\d+\.\d+\.\d+", wf["env"]["TERRAFORM_VERSION"]), name
        for job_id, job in wf["jobs"].items():
            runs = [s.get("run", "") for s in job.get("steps", [])]
            if any("runnerfleet " in r for r in runs):
                pinned = 'pip install --disable-pip-version-check "${RF_CLI_SPEC}"'
                assert any(pinned in r for r in runs), f"{name}:{job_id}: install the pinned CLI"
                assert not any("pip install" in r and " ." in r for r in runs), (
                    f"{name}:{job_id} installs from a source tree a fresh repository lacks"
                )
