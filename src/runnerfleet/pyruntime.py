"""The Python interpreters that deployed artifacts really run under, and cached venvs for them.

Lambda functions run on the `python3.12` runtime and runner hosts on Ubuntu 22.04's Python
3.10, while the CLI runs on 3.11+. The sandbox and the tests run each artifact under its own
interpreter, so code that only works on the CLI's Python fails here as it would in AWS.

- `find_python("3.12")` finds a real interpreter of that version: `RUNNERFLEET_PYTHON_3_12`
  when set, else the newest pyenv build under `$(pyenv root)/versions/3.12.*`, else a
  `python3.12` on PATH that actually runs (pyenv's shim refuses unless the version is
  selected). Missing: `PythonMissing`, naming the version and how to install it.
- `venv("3.12", ["boto3==1.34.145"], root=...)` makes (once; cached by interpreter and
  requirements, safe against concurrent callers) a virtual environment holding exactly those
  requirements, and returns its interpreter.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

_VERSION = re.compile(r"3\.\d{1,2}")


class PythonMissing(RuntimeError):
    """No interpreter of the wanted version is on this machine."""


def _check_version(version: str) -> None:
    if not _VERSION.fullmatch(version):
        raise ValueError(f"python version {version!r} must look like 3.12")


def _runs_as(python: Path, version: str) -> bool:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "PYENV_VERSION": version},
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def _patch(path: Path) -> tuple[int, ...]:
    parts = path.name.split(".")
    return tuple(int(p) if p.isdigit() else -1 for p in parts)


def _pyenv_root() -> Path | None:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    exe = shutil.which("pyenv")
    if exe:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            out = subprocess.run(
                [exe, "root"], capture_output=True, text=True, timeout=30, check=False
            )
            if out.returncode == 0 and out.stdout.strip():
                return Path(out.stdout.strip())
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def candidates(version: str) -> list[Path]:
    """Where an interpreter of `version` may be, most preferred first."""
    _check_version(version)
    found: list[Path] = []
    override = os.environ.get(f"RUNNERFLEET_PYTHON_{version.replace('.', '_')}")
    if override:
        found.append(Path(override))
    root = _pyenv_root()
    if root is not None:
        builds = [
            p
            for p in (root / "versions").glob(f"{version}.*")
            if re.fullmatch(r"\d+", p.name[len(version) + 1 :])
        ]
        for build in sorted(builds, key=_patch, reverse=True):
            found.append(build / "bin" / f"python{version}")
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(Path(on_path))
    return found


def find_python(version: str) -> Path:
    """A real interpreter of `version` (see the module docstring)."""
    for python in candidates(version):
        if python.exists() and _runs_as(python, version):
            return python
    raise PythonMissing(
        f"Python {version} is needed but not found on this machine (looked in "
        f"$RUNNERFLEET_PYTHON_{version.replace('.', '_')}, $(pyenv root)/versions/{version}.* "
        f"and python{version} on PATH); install it, e.g. `pyenv install {version}`, or point "
        f"RUNNERFLEET_PYTHON_{version.replace('.', '_')} at it"
    )


def default_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runnerfleet" / "venvs"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` for the block (builders of shared caches take it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _bin(env: Path, name: str) -> Path:
    return env / ("Scripts" if sys.platform == "win32" else "bin") / name


def venv(
    version: str,
    requirements: Sequence[str],
    *,
    root: Path | None = None,
    pip_args: Sequence[str] = (),
) -> Path:
    """The interpreter of a venv of `version` holding exactly `requirements` (made once)."""
    python = find_python(version)
    reqs = sorted(requirements)
    key = hashlib.sha256(
        "\n".join([str(python.resolve()), version, *reqs, *pip_args]).encode()
    ).hexdigest()[:16]
    base = root or default_root()
    env = base / f"py{version}-{key}"
    done = env / ".runnerfleet-complete"
    with locked(base / f".py{version}-{key}.lock"):
        if done.exists():
            return _bin(env, "python")
        shutil.rmtree(env, ignore_errors=True)
        subprocess.run([str(python), "-m", "venv", str(env)], check=True, timeout=300)
        if reqs:
            proc = subprocess.run(
                [
                    str(_bin(env, "python")),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *pip_args,
                    *reqs,
                ],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if proc.returncode != 0:
                shutil.rmtree(env, ignore_errors=True)
                raise RuntimeError(
                    f"could not install {reqs} into a Python {version} venv: "
                    f"{proc.stderr.strip()[-2000:]}"
                )
        done.write_text("\n".join(reqs) + "\n", encoding="utf-8")
    return _bin(env, "python")
