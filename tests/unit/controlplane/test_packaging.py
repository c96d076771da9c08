"""The control plane's Lambda package: the handlers' modules and nothing emulator-only, the
locked dependencies unpacked from their wheels, and one SHA-256 for the same sources and lock
whichever virtual environment builds it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runnerfleet import pyruntime
from runnerfleet.cli import app
from runnerfleet.controlplane import packaging
from runnerfleet.controlplane.packaging import HANDLER, HANDLERS, build_package

SRC = Path(packaging.__file__).resolve().parents[2]


def test_package_holds_the_handlers_and_is_deterministic(tmp_path: Path) -> None:
    a = build_package(tmp_path / "a.zip")
    b = build_package(tmp_path / "b" / "b.zip")
    assert a.sha256 == b.sha256 and a.files == b.files
    names = zipfile.ZipFile(a.path).namelist()
    for handler in HANDLERS.values():
        assert handler.rsplit(".", 1)[0].replace(".", "/") + ".py" in names
    assert HANDLERS["registrar"] == HANDLER
    assert "runnerfleet/controlplane/registrar.py" in names
    assert "runnerfleet/github/client.py" in names
    assert not [n for n in names if "emulator" in n or "openapi" in n or "standin" in n]
    assert "runnerfleet/controlplane/packaging.py" not in names, "a build step, not runtime"
    assert "runnerfleet/github/spec.py" not in names, "test-only traffic validation"


def test_import_closure_follows_lazy_and_relative_imports(tmp_path: Path) -> None:
    root = tmp_path / "runnerfleet"
    (root / "controlplane").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "controlplane" / "__init__.py").write_text("")
    (root / "controlplane" / "entrypoints.py").write_text(
        "def f():\n    from runnerfleet.controlplane import lazy\n    from . import rel\n"
    )
    (root / "controlplane" / "lazy.py").write_text("import runnerfleet.util\n")
    (root / "controlplane" / "rel.py").write_text("import json\n")
    (root / "util.py").write_text("")
    (root / "unused.py").write_text("")
    closure = packaging.import_closure(root)
    assert sorted(closure) == [
        "runnerfleet",
        "runnerfleet.controlplane",
        "runnerfleet.controlplane.entrypoints",
        "runnerfleet.controlplane.lazy",
        "runnerfleet.controlplane.rel",
        "runnerfleet.util",
    ]


def test_lock_pins_every_dependency_by_hash() -> None:
    pins = packaging.read_lock()
    names = {p.name.lower() for p in pins}
    assert {"pyjwt", "cryptography", "cffi", "httpx"} <= names
    assert not names & {"boto3", "botocore"}, "the runtime provides boto3"
    assert all(p.hashes and all(len(h) == 64 for h in p.hashes) for p in pins)
    by_name = {p.name.lower(): p for p in pins}
    assert len(by_name["cffi"].hashes) == 2, "a compiled wheel per Lambda architecture"


def test_lock_was_made_from_the_current_dependencies() -> None:
    """Changing DEPENDENCIES without `python scripts/lock_lambda_deps.py` fails here."""
    header = packaging.LOCK_FILE.read_text(encoding="utf-8").split("\n# The runtime")[0]
    assert ", ".join(packaging.DEPENDENCIES) in header.replace("\n# ", " "), (
        "lambda-requirements.txt is stale: run python scripts/lock_lambda_deps.py"
    )


def test_unpinned_lock_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("httpx>=0.27\n")
    with pytest.raises(packaging.PackagingError, match="pinned as name==version"):
        packaging.read_lock(lock)
    with pytest.raises(packaging.PackagingError, match="use x86_64 or arm64"):
        packaging.platform_args("amd64")


def _build_in(python: Path, src: Path, out: Path, cache: Path, cwd: Path) -> str:
    """Build the package with dependencies from the interpreter of a venv; its sha256."""
    code = (
        "import sys; from pathlib import Path; "
        "from runnerfleet.controlplane.packaging import build_package; "
        f"p = build_package(Path({str(out)!r}), with_dependencies=True, "
        f"wheel_cache=Path({str(cache)!r})); print(p.sha256)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(src)
    proc = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=600,
        cwd=cwd, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_same_hash_from_two_virtual_environments(tmp_path: Path) -> None:
    """Issue 12.5: two venvs (the CLI's Python and the runtime's 3.12, at different paths),
    each downloading the locked wheels into its own cache, give one SHA-256; and the zip
    carries nothing that embeds a path: no RECORD/INSTALLER, no scripts, no bytecode. Both
    build one snapshot of the sources (the working tree may change between the two builds)."""
    src = tmp_path / "src"
    shutil.copytree(
        SRC / "runnerfleet", src / "runnerfleet", ignore=shutil.ignore_patterns("__pycache__")
    )
    first_env = tmp_path / "venv-a"
    venv.EnvBuilder(with_pip=True).create(first_env)
    second = pyruntime.venv("3.12", [], root=tmp_path / "venvs")
    (tmp_path / "elsewhere").mkdir()
    first = first_env / "bin" / "python"
    hashes = {
        _build_in(first, src, tmp_path / "a" / "cp.zip", tmp_path / "ca", tmp_path),
        _build_in(second, src, tmp_path / "b" / "cp.zip", tmp_path / "cb", tmp_path / "elsewhere"),
    }
    assert len(hashes) == 1, hashes
    with zipfile.ZipFile(tmp_path / "a" / "cp.zip") as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert "jwt/__init__.py" in names and "cryptography/__init__.py" in names
    assert any(n.endswith(".so") and "x86_64" in n for n in names), "manylinux x86_64 build"
    assert not [n for n in names if n.endswith(("/RECORD", "/INSTALLER", ".pyc"))]
    assert not [n for n in names if n.startswith("bin/") or "__pycache__" in n]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert sys.executable.encode() not in (tmp_path / "a" / "cp.zip").read_bytes()


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
    cache = tmp_path / "cache"
    first = ensure_package(out, cache=cache)
    mtime = out.stat().st_mtime_ns
    again = ensure_package(out, cache=cache)
    assert again.sha256 == first.sha256 and out.stat().st_mtime_ns == mtime
    (tmp_path / "build" / "control-plane.zip.sources").write_text("stale")
    rebuilt = ensure_package(out, cache=cache)
    assert rebuilt.sha256 == first.sha256 and out.stat().st_mtime_ns != mtime


def test_a_second_project_copies_the_package_built_for_the_same_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zip is a pure function of its sources: one build per digest, whatever the folder."""
    cache = tmp_path / "cache"
    first = packaging.ensure_package(tmp_path / "a" / "cp.zip", cache=cache)
    assert [p.name for p in cache.iterdir()] == [f"{packaging.sources_digest(False)}.zip"]

    def no_build(*_a: object, **_k: object) -> None:
        raise AssertionError("built again although the cache holds these sources")

    monkeypatch.setattr(packaging, "build_package", no_build)
    second = packaging.ensure_package(tmp_path / "b" / "cp.zip", cache=cache)
    assert second.sha256 == first.sha256 and second.path == (tmp_path / "b" / "cp.zip")
    assert second.files == first.files


def test_fetch_wheels_runs_pip_only_for_a_pin_without_a_matching_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / "cache" / "x86_64" / "demo-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"not really a wheel")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = tmp_path / "lock.txt"
    lock.write_text(f"demo==1.0 --hash=sha256:{digest}\n")
    calls: list[list[str]] = []

    def fake_pip(cmd: list[str], **_k: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)  # the module calls subprocess.run
    assert packaging.fetch_wheels(lock=lock, cache=tmp_path / "cache") == [wheel]
    assert calls == [], "every pin had its wheel: pip must not run"
    lock.write_text(f"demo==1.0 --hash=sha256:{'0' * 64}\n")
    with pytest.raises(packaging.PackagingError, match=r"no wheel of demo==1\.0"):
        packaging.fetch_wheels(lock=lock, cache=tmp_path / "cache")
    assert len(calls) == 1 and "download" in calls[0]
