"""Suite-wide settings.

- Every GitHub request a client sends and every response the GitHub emulator returns during the
  suite is validated against GitHub's official OpenAPI description (issue: GitHub integration).
- The suite runs on pytest-xdist workers (`-n`, see pyproject.toml). Integration and e2e tests
  are grouped per file (`--dist loadgroup`) so a file's module- and session-scoped fixtures
  (emulators, terraform plans) are built once; the files that share the stack plans form one
  group; e2e tests get a group each (a fleet per test) unless their module names one
  (`pytestmark = pytest.mark.xdist_group(...)`, a fleet shared by the file). Unit tests spread
  freely.
- Scheduling (only on xdist workers; `-n 0` keeps the collection order): the suite's wall
  time is bounded below by its longest group, so the longest groups (`HEAVY_FIRST`, measured)
  start at once, one per worker, instead of after the groups xdist would otherwise sort
  first (by test count). xdist gives a worker with at most two pending tests a second group
  up front, which waits behind the first: so the next few groups are single unit tests. The
  rest follows by test count, largest first (xdist's own order; pyproject sets
  `--no-loadscope-reorder` so that xdist keeps this one).
- Terraform and its AWS provider are Go programs, and the suite is CPU-bound on this 2-core
  machine (about 45% of its CPU went to them). Their garbage collector runs with GOGC=800
  unless the environment sets GOGC: a `terraform plan` then takes about 36% less CPU for about
  60% more peak memory (4.4 s -> 2.8 s of CPU, 320 -> 500 MB; validate and `show -json`
  alike). It changes nothing they do, only how often they collect garbage.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RFLEET_GITHUB_SPEC_VALIDATE", "1")
os.environ.setdefault("GOGC", "800")  # terraform and its provider: see the docstring

_TESTS = Path(__file__).parent
_SHARED_PLAN_FIXTURES = {"stack_plan_json", "stack_plans"}
# Longest groups first, longest at the top (node-id prefixes under tests/). Measured in CI's
# run of d568548 (worker-seconds on the loaded 2-core machine, --junitxml): the workflow story
# 426, the operations doc 321, kill-and-teardown 263, the static e2e 206, the e2e jobs module
# (one group, a fleet shared by its tests) about 200, the autoscaled e2e 192.
HEAVY_FIRST = (
    "integration/workflows/test_workflows_sandbox.py",
    "integration/docs/test_operations_commands.py",
    "integration/lifecycle/",
    "e2e/test_sandbox_lifecycle.py::test_static",
    "e2e/test_sandbox_jobs.py",
    "e2e/test_sandbox_lifecycle.py::test_autoscaled",
)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = item.path.relative_to(_TESTS)
        if rel.parts[0] not in ("integration", "e2e") or item.get_closest_marker("xdist_group"):
            continue  # unit tests spread; a module that names its group keeps it
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & _SHARED_PLAN_FIXTURES:
            group = "stack-plans"
        elif rel.parts[0] == "e2e":
            group = item.nodeid  # a fleet per test (function-scoped): one per worker slot
        else:
            group = str(rel)
        item.add_marker(pytest.mark.xdist_group(group))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items[:] = _heavy_first(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))


def _group_of(item: pytest.Item) -> str:
    marker = item.get_closest_marker("xdist_group")
    return f"@{marker.args[0]}" if marker else item.nodeid


def _heavy_first(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The collection in the order xdist should hand out its groups (see the docstring)."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(_group_of(item), []).append(item)

    def rank(name: str) -> int:
        ids = [i.nodeid.removeprefix("tests/") for i in groups[name]]
        hits = [n for n, prefix in enumerate(HEAVY_FIRST) for i in ids if i.startswith(prefix)]
        return min(hits, default=len(HEAVY_FIRST))

    heavy = sorted((g for g in groups if rank(g) < len(HEAVY_FIRST)), key=rank)
    rest = sorted((g for g in groups if g not in heavy), key=lambda g: -len(groups[g]))
    fillers = [g for g in rest if not g.startswith("@")][:workers]
    order = heavy[:workers] + fillers + heavy[workers:]
    order += [g for g in rest if g not in fillers]
    return [item for g in order for item in groups[g]]
