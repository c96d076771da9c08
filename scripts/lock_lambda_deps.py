#!/usr/bin/env python3
"""Refresh src/runnerfleet/controlplane/lambda-requirements.txt, the hash-pinned lock of the
control plane's Lambda dependencies (runnerfleet.controlplane.packaging.DEPENDENCIES).

For each Lambda architecture (x86_64, arm64) pip resolves DEPENDENCIES for CPython 3.12 on
manylinux (binary wheels only, `pip install --dry-run --report`); the versions must agree
across architectures, and every pin carries the SHA-256 of each architecture's wheel. The
package build then downloads exactly those files (`pip download --require-hashes`), so a
release between a PR's plan and its apply changes nothing.

    python scripts/lock_lambda_deps.py           # rewrite the lock
    python scripts/lock_lambda_deps.py --check   # exit 1 when the lock is stale, change nothing
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from runnerfleet.controlplane import packaging  # noqa: E402


def resolve(architecture: str) -> dict[str, tuple[str, str]]:
    """name -> (version, sha256 of the wheel) for one architecture."""
    with tempfile.TemporaryDirectory(prefix="rf-lock-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--dry-run", "--ignore-installed", "--report", str(report),
            "--target", str(Path(tmp) / "target"),
            *packaging.platform_args(architecture), *packaging.DEPENDENCIES,
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
        if proc.returncode != 0:
            sys.exit(f"pip could not resolve for {architecture}: {proc.stderr.strip()[-1500:]}")
        doc = json.loads(report.read_text(encoding="utf-8"))
    out: dict[str, tuple[str, str]] = {}
    for item in doc["install"]:
        meta, info = item["metadata"], item["download_info"]
        digest = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not digest or not info["url"].endswith(".whl"):
            sys.exit(f"{meta['name']}: no wheel with a sha256 for {architecture}")
        out[meta["name"].lower().replace("_", "-")] = (meta["version"], digest)
    return out


def render() -> str:
    per_arch = {arch: resolve(arch) for arch in packaging.ARCHITECTURES}
    names = sorted(set().union(*per_arch.values()))
    lines = [
        "# The control plane's Lambda dependencies, pinned by hash: one wheel per Lambda",
        "# architecture (x86_64, arm64) for CPython "
        f"{packaging.PYTHON_VERSION} on manylinux. Generated from",
        f"# {', '.join(packaging.DEPENDENCIES)} by scripts/lock_lambda_deps.py; do not edit.",
        "# The runtime provides boto3/botocore, so they are not here.",
    ]
    for name in names:
        versions = {arch: got[name][0] for arch, got in per_arch.items() if name in got}
        if len(versions) != len(per_arch) or len(set(versions.values())) != 1:
            sys.exit(f"{name}: architectures resolve differently: {versions}")
        hashes = sorted({got[name][1] for got in per_arch.values()})
        lines.append(f"{name}=={next(iter(versions.values()))} \\")
        lines += [f"    --hash=sha256:{h}" + (" \\" if i < len(hashes) - 1 else "")
                  for i, h in enumerate(hashes)]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the lock is stale")
    args = parser.parse_args()
    text = render()
    current = (
        packaging.LOCK_FILE.read_text(encoding="utf-8") if packaging.LOCK_FILE.exists() else ""
    )
    if args.check:
        if text != current:
            print(f"{packaging.LOCK_FILE} is stale; run python scripts/lock_lambda_deps.py")
            return 1
        return 0
    packaging.LOCK_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {packaging.LOCK_FILE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
