"""Build the runner hosts' agent artifact: one tarball the hosts install with no package index.

Hosts never `pip install` anything by name from a public index. `runnerfleet up` builds
`runnerfleet-agent-<version>-<sha>.tar.gz` holding

- `manifest.json`: distribution, version, the Python and platforms it is for, the pinned
  requirements and the SHA-256 of every wheel;
- `wheels/runnerfleet_agent-<version>-py3-none-any.whl`: a separate small distribution,
  `runnerfleet-agent`, holding only the agent's import closure (`AGENT_MODULES`: the agent
  package without the sandbox-only stand-in/simulator and the CLI-side renderer, plus
  `runnerfleet.redaction`), with the console scripts `runnerfleet-agent` (the service) and
  `runnerfleet-agent-bootstrap-failed` (bootstrap.sh's failure report) and
  `runnerfleet-agent-warm-launch` (a warm-pool launch's heartbeats and CONTINUE);
- `wheels/*.whl`: the pinned third-party wheels it needs (boto3 and its dependencies,
  `REQUIREMENTS`), fetched by `pip download --only-binary=:all:` for CPython 3.10 on
  manylinux x86_64 and aarch64 (Ubuntu 22.04 hosts). Neither moto nor the CLI's libraries.

The archive is deterministic (sorted entries, fixed times, owners and modes), so the same
sources and pins give the same SHA-256 and Terraform sees no change. Terraform uploads it to
the fleet's artifacts bucket as `agent/<file name>` (runner-fleet module, `artifacts.tf`) and
the user data names the key and the digest; `install-agent.sh` on the host downloads it with
the instance role, refuses it unless the digest matches, and installs it with
`pip install --no-index` into `/opt/runnerfleet/venv`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import runnerfleet

DIST_NAME = "runnerfleet-agent"
PYTHON_VERSION = "3.10"
PLATFORMS = ("manylinux2014_x86_64", "manylinux2014_aarch64")
ENTRY_POINTS = (
    "runnerfleet-agent = runnerfleet.agent.__main__:main",
    "runnerfleet-agent-bootstrap-failed = runnerfleet.agent.failure:main",
    "runnerfleet-agent-warm-launch = runnerfleet.agent.launched:main",
)
KEY_PREFIX = "agent/"

# The agent's import closure, relative to the runnerfleet package (a test checks that
# `python -m runnerfleet.agent` imports nothing else of runnerfleet).
AGENT_MODULES = (
    "__init__.py",
    "redaction.py",
    "agent/__init__.py",
    "agent/__main__.py",
    "agent/agent.py",
    "agent/decisions.py",
    "agent/failure.py",
    "agent/health.py",
    "agent/imds.py",
    "agent/launched.py",
    "agent/launcher.py",
    "agent/logsafe.py",
    "agent/registration.py",
    "agent/settings.py",
)

# Pinned (a lock): boto3 and everything it needs on CPython 3.10. Change together.
REQUIREMENTS = (
    "boto3==1.43.11",
    "botocore==1.43.11",
    "jmespath==1.1.0",
    "python-dateutil==2.9.0.post0",
    "s3transfer==0.17.0",
    "six==1.17.0",
    "urllib3==2.7.0",
)
# What the agent distribution declares (the lock above satisfies it).
REQUIRES_DIST = ("boto3>=1.34,<2",)

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_ABI = "cp" + PYTHON_VERSION.replace(".", "")


class ArtifactError(RuntimeError):
    """The artifact could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Artifact:
    """A built host artifact."""

    path: Path
    sha256: str
    size: int
    version: str

    @property
    def key(self) -> str:
        """Its object key in the artifacts bucket (content-addressed: a new build, a new key)."""
        return f"{KEY_PREFIX}{self.path.name}"

    def tfvars(self) -> dict[str, str]:
        """The stack's variables that name this artifact."""
        return {
            "agent_artifact_path": str(self.path),
            "agent_artifact_key": self.key,
            "agent_artifact_sha256": self.sha256,
        }


def _package_dir() -> Path:
    return Path(runnerfleet.__file__).resolve().parent


def agent_sources(package_dir: Path | None = None) -> list[tuple[str, bytes]]:
    """(archive name, content) of every agent module, in order."""
    root = package_dir or _package_dir()
    out = []
    for rel in AGENT_MODULES:
        path = root / rel
        if not path.is_file():
            raise ArtifactError(f"{path} is missing; AGENT_MODULES names a module that is gone")
        out.append((f"runnerfleet/{rel}", path.read_bytes()))
    return out


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_agent_wheel(out_dir: Path, version: str | None = None) -> Path:
    """Write the `runnerfleet-agent` wheel (pure Python, deterministic) into `out_dir`."""
    version = version or runnerfleet.__version__
    dist = f"runnerfleet_agent-{version}"
    info_dir = f"{dist}.dist-info"
    metadata = "\n".join(
        [
            "Metadata-Version: 2.1",
            f"Name: {DIST_NAME}",
            f"Version: {version}",
            "Summary: The runnerfleet agent for runner hosts (built by runnerfleet up)",
            f"Requires-Python: >={PYTHON_VERSION}",
            *(f"Requires-Dist: {r}" for r in REQUIRES_DIST),
            "",
        ]
    )
    files: list[tuple[str, bytes]] = [
        *agent_sources(),
        (f"{info_dir}/METADATA", metadata.encode()),
        (
            f"{info_dir}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: runnerfleet.hostartifact\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (
            f"{info_dir}/entry_points.txt",
            ("[console_scripts]\n" + "".join(f"{e}\n" for e in ENTRY_POINTS)).encode(),
        ),
        (f"{info_dir}/top_level.txt", b"runnerfleet\n"),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files)
    record += f"{info_dir}/RECORD,,\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files:
            _zip_write(zf, name, data)
        _zip_write(zf, f"{info_dir}/RECORD", record.encode())
    return path


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runnerfleet" / "agent-wheels"


def download_dependencies(cache: Path | None = None) -> list[Path]:
    """The pinned wheels for CPython 3.10 on every platform of PLATFORMS (cached by pins)."""
    key = hashlib.sha256("\n".join([*REQUIREMENTS, *PLATFORMS]).encode()).hexdigest()[:16]
    dest = (cache or _cache_root()) / key
    done = dest / ".complete"
    if not done.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest.parent))
        try:
            for platform in PLATFORMS:
                cmd = [
                    sys.executable, "-m", "pip", "download", "--quiet",
                    "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
                    "--platform", platform, "--implementation", "cp",
                    "--python-version", PYTHON_VERSION, "--abi", _ABI,
                    "--dest", str(partial), *REQUIREMENTS,
                ]  # fmt: skip
                result = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=600, check=False
                )
                if result.returncode != 0:
                    raise ArtifactError(
                        f"pip could not fetch the agent's wheels for CPython {PYTHON_VERSION} on "
                        f"{platform} (exit {result.returncode}): {result.stderr.strip()[-800:]}; "
                        "check that PyPI (or your pip index) is reachable; the wheels are "
                        f"cached in {dest.parent} afterwards"
                    )
            (partial / ".complete").write_text("\n".join(REQUIREMENTS) + "\n", encoding="utf-8")
            shutil.rmtree(dest, ignore_errors=True)
            partial.replace(dest)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    wheels = sorted(dest.glob("*.whl"))
    names = {w.name.split("-")[0].lower().replace("_", "-") for w in wheels}
    missing = [r for r in REQUIREMENTS if r.split("==")[0].lower() not in names]
    if missing:
        raise ArtifactError(f"the wheel cache {dest} lacks {missing}; delete it and build again")
    return wheels


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_artifact(out_dir: Path, *, cache: Path | None = None) -> Artifact:
    """Build the tarball into `out_dir` (named by version and digest) and return it."""
    version = runnerfleet.__version__
    with tempfile.TemporaryDirectory(prefix="runnerfleet-agent-") as tmp:
        wheels = [build_agent_wheel(Path(tmp), version), *download_dependencies(cache)]
        blobs = {f"wheels/{w.name}": w.read_bytes() for w in wheels}
    manifest = {
        "format": 1,
        "distribution": DIST_NAME,
        "version": version,
        "python": f">={PYTHON_VERSION}",
        "platforms": list(PLATFORMS),
        "entry_points": list(ENTRY_POINTS),
        "requirements": list(REQUIREMENTS),
        "wheels": [{"file": n, "sha256": _sha256(b)} for n, b in sorted(blobs.items())],
    }
    members = {"manifest.json": json.dumps(manifest, indent=2, sort_keys=True).encode(), **blobs}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    data = packed.getvalue()
    digest = _sha256(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{DIST_NAME}-{version}-{digest[:16]}.tar.gz"
    if not path.is_file():
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)
    for old in out_dir.glob(f"{DIST_NAME}-*.tar.gz"):
        if old != path:
            old.unlink(missing_ok=True)
    return Artifact(path.resolve(), digest, len(data), version)


def sources_digest() -> str:
    """Digest of what goes into the artifact (agent sources, pins, platforms, version)."""
    h = hashlib.sha256(
        "\n".join([runnerfleet.__version__, *REQUIREMENTS, *PLATFORMS, *ENTRY_POINTS]).encode()
    )
    for name, data in agent_sources():
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def ensure_artifact(out_dir: Path, *, cache: Path | None = None) -> Artifact:
    """What `runnerfleet up` calls before plan: build the host artifact unless `out_dir`
    already holds one of these sources (a stamp beside it says); the stack uploads it and
    names it in the user data (`Artifact.tfvars`)."""
    stamp = out_dir / f"{DIST_NAME}.sources"
    digest = sources_digest()
    if stamp.is_file():
        recorded = stamp.read_text(encoding="utf-8").split()
        if len(recorded) == 2 and recorded[0] == digest:
            path = out_dir / recorded[1]
            if path.is_file():
                data = path.read_bytes()
                if path.name.endswith(f"-{_sha256(data)[:16]}.tar.gz"):
                    return Artifact(
                        path.resolve(), _sha256(data), len(data), runnerfleet.__version__
                    )
    artifact = build_artifact(out_dir, cache=cache)
    stamp.write_text(f"{digest} {artifact.path.name}\n", encoding="utf-8")
    return artifact
