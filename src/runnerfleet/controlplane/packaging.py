"""Build the control plane's Lambda package (a zip) from this source tree.

The zip holds the runnerfleet modules the handlers import (controlplane, github client,
agent registration format, redaction) and, with `with_dependencies`, their third-party libraries
installed by pip for the Lambda platform (manylinux x86_64, CPython 3.12). The Lambda runtime
provides boto3. The archive is deterministic (sorted entries, fixed timestamps and modes), so
the same sources give the same hash and Terraform sees no change.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import runnerfleet

HANDLER = "runnerfleet.controlplane.entrypoints.registrar"
# Third-party libraries the handlers import (boto3 comes with the runtime).
DEPENDENCIES = ("httpx>=0.27,<0.29", "PyJWT[crypto]>=2.8,<3")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)

# Source files of the package, relative to the runnerfleet package directory.
_INCLUDE = (
    "__init__.py",
    "redaction.py",
    "vocabulary.py",
    "controlplane/*.py",
    "github/*.py",
    "agent/*.py",
)
_EXCLUDE = ("github/spec.py", "github/emulator_runner.py", "agent/simulate.py", "agent/standin.py")


class PackagingError(RuntimeError):
    """The package could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Package:
    path: Path
    sha256: str
    files: int
    size: int


def source_files(package_dir: Path | None = None) -> list[tuple[Path, str]]:
    """(file, archive name) for every runnerfleet module the Lambda needs."""
    root = package_dir or Path(runnerfleet.__file__).resolve().parent
    out: dict[str, Path] = {}
    for pattern in _INCLUDE:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            if rel not in _EXCLUDE:
                out[f"runnerfleet/{rel}"] = path
    if "runnerfleet/controlplane/entrypoints.py" not in out:
        raise PackagingError(
            f"{root} has no controlplane/entrypoints.py; is this a runnerfleet tree?"
        )
    return [(path, name) for name, path in sorted(out.items())]


def _install_dependencies(target: Path, python_version: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--platform",
        "manylinux2014_x86_64",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        *DEPENDENCIES,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackagingError(
            "pip could not fetch the Lambda dependencies for manylinux x86_64 "
            f"(exit {result.returncode}): {result.stderr.strip()[-800:]}; check that PyPI is "
            "reachable, or build without dependencies for the sandbox"
        )


def _entries(deps_dir: Path | None) -> Iterable[tuple[Path, str]]:
    yield from source_files()
    if deps_dir is not None:
        for path in sorted(deps_dir.rglob("*")):
            rel = path.relative_to(deps_dir).as_posix()
            if path.is_file() and "__pycache__" not in rel and not rel.endswith(".pyc"):
                yield path, rel


def build_package(
    out: Path, *, with_dependencies: bool = False, python_version: str = "3.12"
) -> Package:
    """Write the zip to `out` (parents created) and return its hash and size."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="runnerfleet-pkg-") as tmp:
        deps = None
        if with_dependencies:
            deps = Path(tmp) / "deps"
            _install_dependencies(deps, python_version)
        partial = out.with_suffix(".zip.partial")
        count = 0
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path, name in _entries(deps):
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
                count += 1
        partial.replace(out)
    data = out.read_bytes()
    return Package(out, hashlib.sha256(data).hexdigest(), count, len(data))


def sources_digest(with_dependencies: bool) -> str:
    """Digest of what goes into the package (sources, dependency pins, the flag)."""
    h = hashlib.sha256(f"deps={with_dependencies};{DEPENDENCIES}".encode())
    for path, name in source_files():
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def ensure_package(out: Path, *, with_dependencies: bool = False) -> Package:
    """Build `out` unless it already holds these sources (a `.sources` file beside it says);
    what `runnerfleet up` calls before plan so Terraform finds the zip."""
    stamp = out.with_name(out.name + ".sources")
    digest = sources_digest(with_dependencies)
    if out.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == digest:
        data = out.read_bytes()
        with zipfile.ZipFile(out) as zf:
            count = len(zf.namelist())
        return Package(out.resolve(), hashlib.sha256(data).hexdigest(), count, len(data))
    pkg = build_package(out, with_dependencies=with_dependencies)
    stamp.write_text(digest, encoding="utf-8")
    return pkg
