"""runnerfleet.pyruntime: the real interpreters of the Lambda runtime and the runner hosts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runnerfleet import pyruntime


@pytest.mark.parametrize("version", ["3.10", "3.12"])
def test_finds_a_real_interpreter_of_each_deployed_python(version: str) -> None:
    # The machine image carries both under pyenv; a missing one is a loud failure, not a skip.
    python = pyruntime.find_python(version)
    out = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == version


def test_a_missing_version_names_the_version_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(pyruntime.PythonMissing) as err:
        pyruntime.find_python("3.99")
    assert "Python 3.99" in str(err.value)
    assert "pyenv install 3.99" in str(err.value)


def test_an_override_of_the_wrong_version_is_not_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = pyruntime.find_python("3.10")
    monkeypatch.setenv("RUNNERFLEET_PYTHON_3_12", str(real))  # a 3.10 posing as 3.12
    assert pyruntime.find_python("3.12") != real


def test_a_malformed_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"must look like 3\.12"):
        pyruntime.find_python("3.12; rm -rf /")


def test_venv_is_made_once_and_reused(tmp_path: Path) -> None:
    first = pyruntime.venv("3.10", [], root=tmp_path)
    marker = first.parent.parent / ".runnerfleet-complete"
    assert marker.exists()
    stamp = marker.stat().st_mtime_ns
    second = pyruntime.venv("3.10", [], root=tmp_path)
    assert second == first
    assert marker.stat().st_mtime_ns == stamp  # not rebuilt
    out = subprocess.run(
        [str(first), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True
    )
    assert Path(out.stdout.strip()).resolve() == first.parent.parent.resolve()
