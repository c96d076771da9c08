"""checkov finds no failed check in the Terraform code nor in plans of the root stack.

Two scans, run in parallel with checkov from its own virtual environment
(.tools/checkov-venv, installed by scripts/setup.d/30-checkov.sh):

- `--framework terraform` on infra/ (every module, its examples, and every stack);
- `--framework terraform_plan` on the plan JSON of the stack in static and autoscaled mode
  (the session's shared plans, see conftest.py), enriched with the stack's source so that
  skip comments written in the modules apply to the plan's resources too.

A finding may only be suppressed by a `#checkov:skip=CKV_...:<reason>` comment next to the
resource, and every suppression must carry a reason. Any failed check fails the test and is
printed with its file, line, resource and guideline.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]

REPO = Path(__file__).resolve().parents[3]
INFRA = REPO / "infra"
CHECKOV = REPO / ".tools" / "checkov-venv" / "bin" / "checkov"
MODES = ("static", "autoscaled")


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    resource: str
    file: str
    lines: list[int]
    guideline: str | None
    comment: str | None

    def __str__(self) -> str:
        where = f"{self.file}:{self.lines[0] if self.lines else '?'}"
        text = f"{self.check_id} {self.check_name}\n      {self.resource} at {where}"
        return text + (f"\n      {self.guideline}" if self.guideline else "")


@dataclass(frozen=True)
class Report:
    failed: list[Finding]
    skipped: list[Finding]
    passed: int
    resources: int
    files: frozenset[str]


def _finding(check: dict[str, Any]) -> Finding:
    result = check.get("check_result") or {}
    return Finding(
        check_id=str(check.get("check_id")),
        check_name=str(check.get("check_name")),
        resource=str(check.get("resource")),
        file=str(check.get("file_abs_path") or check.get("file_path")),
        lines=list(check.get("file_line_range") or []),
        guideline=check.get("guideline"),
        comment=result.get("suppress_comment"),
    )


def parse_report(stdout: str) -> Report:
    """checkov `-o json` output -> Report.

    checkov prints one JSON document per scanned directory or file, each an object (one
    framework) or a list (one object per framework), one after the other.
    """
    decoder = json.JSONDecoder()
    reports: list[dict[str, Any]] = []
    i = 0
    while True:
        while i < len(stdout) and stdout[i].isspace():
            i += 1
        if i >= len(stdout):
            break
        try:
            doc, i = decoder.raw_decode(stdout, i)
        except json.JSONDecodeError as exc:
            raise AssertionError(
                f"checkov printed no JSON report ({exc}):\n{stdout[-3000:]}"
            ) from None
        reports += doc if isinstance(doc, list) else [doc]
    if not reports:
        raise AssertionError("checkov printed no JSON report (empty output)")
    failed: list[Finding] = []
    skipped: list[Finding] = []
    passed = resources = 0
    files: set[str] = set()
    for rep in reports:
        results = rep.get("results") or {}
        failed += [_finding(c) for c in results.get("failed_checks", [])]
        skipped += [_finding(c) for c in results.get("skipped_checks", [])]
        passed += len(results.get("passed_checks", []))
        resources += int((rep.get("summary") or {}).get("resource_count", 0))
        for kind in ("failed_checks", "skipped_checks", "passed_checks"):
            files |= {_finding(c).file for c in results.get(kind, [])}
    return Report(failed, skipped, passed, resources, frozenset(files))


def run_checkov(args: list[str], cwd: Path) -> Report:
    if not CHECKOV.exists():
        raise AssertionError(
            f"{CHECKOV} is missing: run `bash scripts/setup.d/30-checkov.sh` (or setup-dev.sh)"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_"))}
    env.update(LOG_LEVEL="WARNING", CHECKOV_EXPERIMENTAL_TERRAFORM_MANAGED_MODULES="False")
    # No calls home: the guideline mapping download targets a public host, never allowed here.
    env.update(BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
    proc = subprocess.run(
        [str(CHECKOV), *args, "-o", "json", "--compact", "--soft-fail", "--skip-download"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"checkov exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return parse_report(proc.stdout)


def module_dirs() -> list[Path]:
    """Every module that has Terraform files (scanned with its examples)."""
    return [d for d in sorted((INFRA / "modules").iterdir()) if any(d.glob("*.tf"))]


@pytest.fixture(scope="module")
def reports(stack_plan_json: Any) -> Iterator[dict[str, Report]]:
    plan_files = [stack_plan_json.path(m) for m in MODES]
    enrich = plan_files[0].parent / "infra"  # the plans' own copy of infra/
    # One directory for all of infra/ (modules, their examples, stacks): checkov 3.3 repeats
    # the first directory's results when given several -d arguments.
    code_args = ["--framework", "terraform", "-d", str(INFRA.relative_to(REPO))]
    plan_args = ["--framework", "terraform_plan", "--repo-root-for-plan-enrichment", str(enrich)]
    for f in plan_files:
        plan_args += ["-f", str(f)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        code = pool.submit(run_checkov, code_args, REPO)
        plan = pool.submit(run_checkov, plan_args, enrich)
        yield {"code": code.result(), "plan": plan.result()}


def _describe(findings: list[Finding]) -> str:
    return "\n  ".join(str(f) for f in findings)


@pytest.mark.parametrize("scan", ["code", "plan"])
def test_no_failed_checks(reports: dict[str, Report], scan: str) -> None:
    report = reports[scan]
    assert report.resources > 0 and report.passed > 0, f"checkov scanned nothing ({scan})"
    assert not report.failed, (
        f"{len(report.failed)} failed checkov check(s) in the {scan} scan; fix them, or add "
        "`#checkov:skip=CKV_...:<reason>` next to the resource when the finding does not "
        f"apply:\n  {_describe(report.failed)}"
    )


@pytest.mark.parametrize("scan", ["code", "plan"])
def test_every_skip_has_a_reason(reports: dict[str, Report], scan: str) -> None:
    bare = [
        f
        for f in reports[scan].skipped
        if not f.comment or not f.comment.strip() or f.comment.strip() == "No comment provided"
    ]
    assert not bare, "checkov skips without a reason:\n  " + _describe(bare)


def test_scans_cover_every_module_and_both_plans(reports: dict[str, Report]) -> None:
    plan_files = {Path(f).name for f in reports["plan"].files}
    assert {f"plan-{m}.json" for m in MODES} <= plan_files, plan_files
    code_dirs = {Path(f).resolve().relative_to(INFRA).parts[:2] for f in reports["code"].files}
    for d in module_dirs():
        assert d.relative_to(INFRA).parts[:2] in code_dirs, f"checkov did not scan {d}"


def test_module_skips_reach_the_plan(reports: dict[str, Report]) -> None:
    """Plan enrichment: the skip comments in the monitoring module apply to plan resources."""
    skipped = {(f.check_id, Path(f.file).name) for f in reports["plan"].skipped}
    for mode in MODES:
        assert ("CKV_AWS_338", f"plan-{mode}.json") in skipped, sorted(skipped)


# ---- the report parsing can fail ---------------------------------------------------------


def test_parse_report_counts_failures_across_frameworks() -> None:
    check = {
        "check_id": "CKV_AWS_1",
        "check_name": "x",
        "resource": "aws_s3_bucket.b",
        "file_path": "/main.tf",
        "file_line_range": [3, 9],
        "check_result": {"result": "FAILED"},
    }
    skipped = dict(check, check_result={"result": "SKIPPED", "suppress_comment": "why"})
    first = {"failed_checks": [check], "passed_checks": [check]}
    out = json.dumps(
        [
            {"results": first, "summary": {"resource_count": 2}},
            {"results": {"skipped_checks": [skipped]}, "summary": {"resource_count": 1}},
        ]
    )
    out += "\n" + json.dumps({"results": {}, "summary": {"resource_count": 4}})
    rep = parse_report(out)
    assert [f.check_id for f in rep.failed] == ["CKV_AWS_1"]
    assert rep.skipped[0].comment == "why"
    assert (rep.passed, rep.resources) == (1, 7)
    assert "aws_s3_bucket.b at /main.tf:3" in str(rep.failed[0])
    with pytest.raises(AssertionError, match="no JSON report"):
        parse_report("Traceback: boom")
