"""The registrar's Lambda package: the handler's modules, nothing emulator-only, deterministic."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from runnerfleet.cli import app
from runnerfleet.controlplane.packaging import HANDLER, build_package


def test_package_holds_the_handler_and_is_deterministic(tmp_path: Path) -> None:
    a = build_package(tmp_path / "a.zip")
    b = build_package(tmp_path / "b" / "b.zip")
    assert a.sha256 == b.sha256 and a.files == b.files
    names = zipfile.ZipFile(a.path).namelist()
    module = HANDLER.rsplit(".", 1)[0].replace(".", "/") + ".py"
    assert module in names
    assert "runnerfleet/controlplane/registrar.py" in names
    assert "runnerfleet/github/client.py" in names
    assert not [n for n in names if "emulator" in n or "openapi" in n or "standin" in n]


def test_packaged_handler_imports_from_the_zip_alone(tmp_path: Path) -> None:
    """Only the zip (plus site-packages for third-party libraries) on sys.path: the handler
    module and everything it imports must be in the archive."""
    pkg = build_package(tmp_path / "pkg.zip")
    code = (
        "import sys; sys.path = [p for p in sys.path if 'src' not in p]; "
        f"sys.path.insert(0, {str(pkg.path)!r}); "
        "import runnerfleet.controlplane.entrypoints as h, runnerfleet.controlplane.registrar, "
        "runnerfleet.controlplane.events, runnerfleet.controlplane.compose, "
        "runnerfleet.controlplane.settings, runnerfleet.controlplane.reconciler; "
        "assert h.__file__.startswith(sys.path[0]), h.__file__; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", f"import site; site.main(); {code}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_cli_package_json(tmp_path: Path) -> None:
    out = tmp_path / "cp.zip"
    result = CliRunner().invoke(
        app, ["registrar", "package", "--no-dependencies", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["path"] == str(out.resolve()) and doc["files"] > 10 and len(doc["sha256"]) == 64


def test_ensure_package_rebuilds_only_when_sources_change(tmp_path: Path) -> None:
    from runnerfleet.controlplane.packaging import ensure_package

    out = tmp_path / "build" / "control-plane.zip"
    first = ensure_package(out)
    mtime = out.stat().st_mtime_ns
    again = ensure_package(out)
    assert again.sha256 == first.sha256 and out.stat().st_mtime_ns == mtime
    (tmp_path / "build" / "control-plane.zip.sources").write_text("stale")
    rebuilt = ensure_package(out)
    assert rebuilt.sha256 == first.sha256 and out.stat().st_mtime_ns != mtime
