"""Pure checks over GitHub workflow files, shared by the workflow tests.

Each function returns a list of human-readable problems (empty when the rule holds), so a
test can assert on the real workflows and, with a fixture that breaks the rule, show that
the check can fail.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
WORKFLOWS = REPO / ".github" / "workflows"
FIXTURES = REPO / "tests" / "fixtures" / "workflows"

# `owner/repo[/path]@<40 hex>` followed by a `# vX.Y.Z` comment naming the version.
PINNED_USES = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+){0,2}\b")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?P<comment>#.*)?$")

LEVELS = {"none": 0, "read": 1, "write": 2}


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    """Parse a workflow; YAML 1.1 reads the `on:` key as True, so it is renamed back."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    if True in data:
        data["on"] = data.pop(True)
    return data


def _is_local(ref: str) -> bool:
    return ref.startswith("./") or ref.startswith("docker://")


def all_uses(wf: dict[str, Any]) -> list[tuple[str, str]]:
    """(job id, uses) for every step `uses:` and every job-level (reusable workflow) `uses:`."""
    found: list[tuple[str, str]] = []
    for job_id, job in (wf.get("jobs") or {}).items():
        if "uses" in job:
            found.append((job_id, str(job["uses"])))
        for step in job.get("steps") or []:
            if "uses" in step:
                found.append((job_id, str(step["uses"])))
    return found


def pin_problems(path: Path) -> list[str]:
    """Every non-local `uses:` is pinned to a full commit SHA with a version comment."""
    problems: list[str] = []
    for job_id, ref in all_uses(load(path)):
        if _is_local(ref):
            continue
        if not PINNED_USES.match(ref):
            problems.append(f"{path.name}: job {job_id}: {ref} is not pinned to a 40-char SHA")
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = USES_LINE.match(line)
        if not m or _is_local(m["ref"]):
            continue
        if not m["comment"] or not VERSION_COMMENT.search(m["comment"]):
            problems.append(
                f"{path.name}:{n}: {m['ref']} has no `# vX.Y.Z` comment naming its version"
            )
    return problems


def permission_problems(path: Path, expected: dict[str, dict[str, str]]) -> list[str]:
    """Top level grants nothing; every job declares exactly the permissions in `expected`.

    A job's grant may be no broader than the table's (each scope at most the table's level,
    no scope the table does not list) and no narrower (the job would fail at run time).
    """
    wf = load(path)
    problems: list[str] = []
    top = wf.get("permissions", "<unset>")
    if top != {}:
        problems.append(f"{path.name}: top-level permissions must be {{}}, got {top!r}")
    jobs = wf.get("jobs") or {}
    for job_id in sorted(set(jobs) | set(expected)):
        if job_id not in expected:
            problems.append(f"{path.name}: job {job_id} is not in the permissions table")
            continue
        if job_id not in jobs:
            problems.append(f"{path.name}: job {job_id} of the table does not exist")
            continue
        granted = jobs[job_id].get("permissions", "<unset>")
        if not isinstance(granted, dict):
            problems.append(
                f"{path.name}: job {job_id} must list its permissions explicitly, got {granted!r}"
            )
            continue
        want = expected[job_id]
        for scope, level in granted.items():
            if LEVELS.get(str(level), 99) > LEVELS[want.get(scope, "none")]:
                problems.append(
                    f"{path.name}: job {job_id} grants {scope}: {level}, "
                    f"but needs {want.get(scope, 'none')}"
                )
        for scope, level in want.items():
            if LEVELS.get(str(granted.get(scope, "none")), 0) < LEVELS[level]:
                problems.append(f"{path.name}: job {job_id} needs {scope}: {level}")
    return problems
