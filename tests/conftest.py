"""Suite-wide settings.

- Every GitHub request a client sends and every response the GitHub emulator returns during the
  suite is validated against GitHub's official OpenAPI description (issue: GitHub integration).
- The suite runs on pytest-xdist workers (`-n`, see pyproject.toml). Integration and e2e tests
  are grouped per file (`--dist loadgroup`) so a file's module- and session-scoped fixtures
  (emulators, terraform plans) are built once; the files that share the stack plans form one
  group. Unit tests spread freely.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RFLEET_GITHUB_SPEC_VALIDATE", "1")

_TESTS = Path(__file__).parent
_SHARED_PLAN_FIXTURES = {"stack_plan_json", "stack_plans"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = item.path.relative_to(_TESTS)
        if rel.parts[0] not in ("integration", "e2e"):
            continue
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & _SHARED_PLAN_FIXTURES:
            group = "stack-plans"
        elif rel.parts[0] == "e2e":
            group = item.nodeid  # whole fleet lives, function-scoped: one per worker slot
        else:
            group = str(rel)
        item.add_marker(pytest.mark.xdist_group(group))
