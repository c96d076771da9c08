"""Build the control plane's Lambda package (a zip), reproducibly; a build step, not runtime.

What goes in:
- the runnerfleet modules the handlers can import: the import closure (read from the source
  with `ast`, lazy imports inside functions included) of the entry-point module that
  Terraform names (`HANDLERS`), with the `__init__.py` of every package on the way;
- with `with_dependencies`, the third-party libraries those modules import beyond the Lambda
  runtime's boto3, exactly as pinned by hash in `lambda-requirements.txt` (refreshed by
  `scripts/lock_lambda_deps.py`): manylinux wheels for the function's architecture and
  CPython 3.12 fetched with `pip download --require-hashes --only-binary=:all: --platform ...`,
  each checked against its hash and unpacked here (never `pip install`, whose RECORD,
  INSTALLER, entry-point scripts and `__pycache__` embed the building interpreter's paths).

The archive is a pure function of those inputs: entries sorted, every timestamp 1980-01-01,
mode 0644 regular file, Unix "made by", fixed deflate level, no directories, no `.pyc`,
no `*.dist-info/RECORD`, no `*.data/scripts`. The same sources and lock give the same
SHA-256 from any virtual environment on any machine (tests/unit/controlplane/test_packaging.py).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import runnerfleet

HANDLERS = {
    "webhook": "runnerfleet.controlplane.entrypoints.webhook",
    "reconcile": "runnerfleet.controlplane.entrypoints.reconcile",
    "registrar": "runnerfleet.controlplane.entrypoints.registrar",
}
HANDLER = HANDLERS["registrar"]
ENTRY_MODULE = "runnerfleet.controlplane.entrypoints"

# Third-party libraries the handlers import beyond the runtime's boto3 (the lock's input).
DEPENDENCIES = ("httpx>=0.27,<0.29", "PyJWT[crypto]>=2.8,<3")
LOCK_FILE = Path(__file__).with_name("lambda-requirements.txt")
PYTHON_VERSION = "3.12"
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
# glibc of the python3.12 runtime (Amazon Linux 2023) is 2.34: wheels up to manylinux_2_34.
_MANYLINUX = ("manylinux_2_34", "manylinux_2_28", "manylinux_2_17", "manylinux2014")

# Reachable only in the test suite (RFLEET_GITHUB_SPEC_VALIDATE=1): checks GitHub traffic
# against the vendored OpenAPI description, which the zip does not carry.
_EXCLUDE_MODULES = frozenset({"runnerfleet.github.spec"})

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644  # regular file, rw-r--r--
_DEFLATE_LEVEL = 6
_WHEEL_SKIP = re.compile(r"^[^/]+\.dist-info/(RECORD|INSTALLER|REQUESTED|direct_url\.json)$")
_WHEEL_DATA = re.compile(r"^[^/]+\.data/([^/]+)/(.*)$")


class PackagingError(RuntimeError):
    """The package could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Package:
    path: Path
    sha256: str
    files: int
    size: int


# ---- runnerfleet sources: the import closure of the entry points ---------------------------


def _module_file(root: Path, module: str) -> Path | None:
    rel = module.split(".")[1:]
    base = root.joinpath(*rel)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every runnerfleet module `path` may import (top level or inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{a.name}" for a in node.names)  # `from pkg import module`


def import_closure(root: Path, entry: str = ENTRY_MODULE) -> dict[str, Path]:
    """module name -> file for every runnerfleet module reachable from `entry`."""
    seen: dict[str, Path] = {}
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in seen or module in _EXCLUDE_MODULES:
            continue
        if not (module == "runnerfleet" or module.startswith("runnerfleet.")):
            continue
        path = _module_file(root, module)
        if path is None:
            continue  # `from pkg import name` where name is not a module
        seen[module] = path
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages
        todo += list(_imports(path, module))
    return seen


def source_files(package_dir: Path | None = None) -> list[tuple[Path, str]]:
    """(file, archive name) for every runnerfleet module the handlers can import."""
    root = package_dir or Path(runnerfleet.__file__).resolve().parent
    if _module_file(root, ENTRY_MODULE) is None:
        raise PackagingError(
            f"{root} has no controlplane/entrypoints.py; is this a runnerfleet tree?"
        )
    closure = import_closure(root)
    out = {f"runnerfleet/{p.relative_to(root).as_posix()}": p for p in closure.values()}
    return [(path, name) for name, path in sorted(out.items())]


# ---- the lock and the wheels -----------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]


def read_lock(path: Path = LOCK_FILE) -> list[Pin]:
    """The pins of a pip requirements file with `--hash` options (lines joined by `\\`)."""
    if not path.is_file():
        raise PackagingError(f"{path} is missing; run `python scripts/lock_lambda_deps.py`")
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    pins: list[Pin] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *opts = line.split()
        m = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9._+!-]+)", spec)
        hashes = tuple(o.split(":", 1)[1] for o in opts if o.startswith("--hash=sha256:"))
        if m is None or not hashes:
            raise PackagingError(
                f"{path}: {spec!r} must be pinned as name==version with --hash=sha256:...; "
                "regenerate it with `python scripts/lock_lambda_deps.py`"
            )
        pins.append(Pin(m.group(1), m.group(2), hashes))
    return pins


def platform_args(architecture: str, python_version: str = PYTHON_VERSION) -> list[str]:
    """pip options selecting wheels for the Lambda runtime of that architecture."""
    if architecture not in ARCHITECTURES:
        raise PackagingError(
            f"architecture {architecture!r} is not a Lambda architecture; use x86_64 or arm64"
        )
    machine = ARCHITECTURES[architecture]
    args: list[str] = []
    for tag in _MANYLINUX:
        args += ["--platform", f"{tag}_{machine}"]
    return [
        *args,
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
    ]


def default_wheel_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runnerfleet" / "lambda-wheels"


def default_package_cache() -> Path:
    """Built packages by sources digest, shared by every project folder of this user."""
    return default_wheel_cache().parent / "packages"


def _cached_wheels(pins: list[Pin], dest: Path) -> tuple[list[Path], list[Pin]]:
    """(the wheels in `dest` that match a pin's hashes, the pins with no such wheel)."""
    by_hash = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in dest.glob("*.whl")}
    found: list[Path] = []
    missing: list[Pin] = []
    for pin in pins:
        hits = [by_hash[h] for h in pin.hashes if h in by_hash]
        if hits:
            found.append(hits[0])
        else:
            missing.append(pin)
    return sorted(found, key=lambda p: p.name), missing


def fetch_wheels(
    architecture: str = "x86_64", *, lock: Path = LOCK_FILE, cache: Path | None = None
) -> list[Path]:
    """The locked wheels for `architecture`, downloaded once into `cache`, hash-checked.

    pip runs only when a pin has no wheel in the cache that matches one of its hashes.
    """
    pins = read_lock(lock)
    dest = (cache or default_wheel_cache()) / architecture
    dest.mkdir(parents=True, exist_ok=True)
    wheels, missing = _cached_wheels(pins, dest)
    if not missing:
        return wheels
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--require-hashes", "--dest", str(dest), "-r", str(lock),
        *platform_args(architecture),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        raise PackagingError(
            f"pip could not fetch the locked Lambda dependencies for {architecture} "
            f"(exit {result.returncode}): {result.stderr.strip()[-800:]}; check that PyPI is "
            "reachable, or refresh the lock with `python scripts/lock_lambda_deps.py`"
        )
    wheels, missing = _cached_wheels(pins, dest)
    if missing:
        pin = missing[0]
        raise PackagingError(
            f"no wheel of {pin.name}=={pin.version} in {dest} matches the lock's hashes"
        )
    return wheels


def wheel_entries(wheel: Path) -> Iterator[tuple[str, bytes]]:
    """(archive name, bytes) of a wheel's importable files, as an install would lay them out,
    without RECORD/INSTALLER and without scripts, headers or data files."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or _WHEEL_SKIP.match(name):
                continue
            data = _WHEEL_DATA.match(name)
            if data is not None:
                if data.group(1) not in ("purelib", "platlib"):
                    continue
                name = data.group(2)
            if "__pycache__/" in name or name.endswith(".pyc"):
                continue
            yield name, zf.read(info)


# ---- the archive -----------------------------------------------------------------------------


def _entries(wheels: Iterable[Path]) -> dict[str, bytes]:
    out = {name: path.read_bytes() for path, name in source_files()}
    for wheel in wheels:
        for name, data in wheel_entries(wheel):
            if name in out:
                raise PackagingError(f"{wheel.name} and another input both hold {name}")
            out[name] = data
    return out


def write_zip(out: Path, entries: dict[str, bytes]) -> None:
    """A deterministic zip of `entries` at `out` (written to a side file, then renamed)."""
    partial = out.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.create_system = 3
            info.external_attr = _FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entries[name], compresslevel=_DEFLATE_LEVEL)
    partial.replace(out)


def build_package(
    out: Path,
    *,
    with_dependencies: bool = False,
    architecture: str = "x86_64",
    wheel_cache: Path | None = None,
) -> Package:
    """Write the zip to `out` (parents created) and return its hash and size."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    wheels = fetch_wheels(architecture, cache=wheel_cache) if with_dependencies else []
    entries = _entries(wheels)
    write_zip(out, entries)
    data = out.read_bytes()
    return Package(out, hashlib.sha256(data).hexdigest(), len(entries), len(data))


def sources_digest(with_dependencies: bool, architecture: str = "x86_64") -> str:
    """Digest of what goes into the package (sources, the lock, the options)."""
    h = hashlib.sha256(f"deps={with_dependencies};arch={architecture};".encode())
    if with_dependencies:
        h.update(LOCK_FILE.read_bytes())
    for path, name in source_files():
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _package_of(path: Path) -> Package:
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        count = len(zf.namelist())
    return Package(path.resolve(), hashlib.sha256(data).hexdigest(), count, len(data))


def ensure_package(
    out: Path,
    *,
    with_dependencies: bool = False,
    architecture: str = "x86_64",
    cache: Path | None = None,
) -> Package:
    """Build `out` unless it already holds these sources (a `.sources` file beside it says);
    what `runnerfleet up` calls before plan so Terraform finds the zip.

    The build is a pure function of its inputs (module docstring), so a zip built once for
    a sources digest is kept in `cache` (default: the user's cache, shared by every project
    folder) and copied from there by the next project that needs the same one.
    """
    stamp = out.with_name(out.name + ".sources")
    digest = sources_digest(with_dependencies, architecture)
    if out.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == digest:
        return _package_of(out)
    kept = (cache or default_package_cache()) / f"{digest}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    if kept.is_file():
        shutil.copyfile(kept, out)
        pkg = _package_of(out)
    else:
        pkg = build_package(out, with_dependencies=with_dependencies, architecture=architecture)
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_name(f"{kept.name}.{os.getpid()}.partial")
        shutil.copyfile(out, partial)
        os.replace(partial, kept)  # atomic: a concurrent reader sees a whole zip or none
    stamp.write_text(digest, encoding="utf-8")
    return pkg
