"""`mypy`, as CI's lint job runs it, in the suite too: strict over src/runnerfleet, tests/ (the
fakes checked against the Protocols they stand in for), benchmarks/ and scripts/, as configured
in pyproject.toml. About 10 s with .mypy_cache warm, 30 s cold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKED = ("src/runnerfleet", "tests", "benchmarks", "scripts")


def test_mypy_strict_is_clean_over_the_package_tests_benchmarks_and_scripts() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"mypy found errors:\n{proc.stdout[-8000:]}{proc.stderr[-2000:]}"
    # The configuration still names every folder: all their Python files were checked.
    files = [p for d in CHECKED for p in (REPO / d).rglob("*.py") if "__pycache__" not in p.parts]
    checked = re.search(r"no issues found in (\d+) source files", proc.stdout)
    assert checked, proc.stdout
    assert int(checked.group(1)) >= len(files), (checked.group(0), len(files))
