"""Fixtures for end-to-end tests: run the real `runnerfleet` CLI in a temporary project."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_project import Project

from runnerfleet.sandbox import Sandbox


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = Project(tmp_path)
    yield proj
    Sandbox(tmp_path / ".runnerfleet").stop()  # never leave emulators behind
