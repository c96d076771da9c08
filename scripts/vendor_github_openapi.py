#!/usr/bin/env python3
"""Vendor the parts of GitHub's official API descriptions that runnerfleet uses.

Fetches the npm packages `@octokit/openapi` (REST, the `api.github.com` description) and
`@octokit/openapi-webhooks` (webhook payloads) with `npm pack` into a temporary directory,
keeps only the paths/webhooks listed below plus every component they reference
(transitively), drops examples, and writes compact JSON to
src/runnerfleet/github/openapi/{api.github.com.json,webhooks.json}.

    python scripts/vendor_github_openapi.py            # fetch from npm and regenerate
    python scripts/vendor_github_openapi.py --from DIR # use already unpacked packages
                                                       # (DIR/openapi, DIR/webhooks)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "runnerfleet" / "github" / "openapi"

API_PACKAGE = "@octokit/openapi"
WEBHOOKS_PACKAGE = "@octokit/openapi-webhooks"

# REST paths the client calls and the emulator serves.
API_PATHS = [
    "/app/installations",
    "/app/installations/{installation_id}/access_tokens",
    "/orgs/{org}/installation",
    "/repos/{owner}/{repo}/installation",
    "/users/{username}/installation",
    "/installation/repositories",
    "/orgs/{org}/actions/runner-groups",
    "/orgs/{org}/actions/runners",
    "/orgs/{org}/actions/runners/generate-jitconfig",
    "/orgs/{org}/actions/runners/registration-token",
    "/orgs/{org}/actions/runners/remove-token",
    "/orgs/{org}/actions/runners/{runner_id}",
    "/orgs/{org}/actions/runners/{runner_id}/labels",
    "/orgs/{org}/actions/runners/{runner_id}/labels/{name}",
    "/repos/{owner}/{repo}/actions/runners",
    "/repos/{owner}/{repo}/actions/runners/generate-jitconfig",
    "/repos/{owner}/{repo}/actions/runners/registration-token",
    "/repos/{owner}/{repo}/actions/runners/remove-token",
    "/repos/{owner}/{repo}/actions/runners/{runner_id}",
    "/repos/{owner}/{repo}/actions/runners/{runner_id}/labels",
    "/repos/{owner}/{repo}/actions/runners/{runner_id}/labels/{name}",
    "/repos/{owner}/{repo}/actions/runs",
    "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
    "/repos/{owner}/{repo}/actions/jobs/{job_id}",
]

WEBHOOKS = [
    "workflow-job-queued",
    "workflow-job-waiting",
    "workflow-job-in-progress",
    "workflow-job-completed",
]


def _strip(node: Any) -> Any:
    """Drop examples and documentation-only keys that validation never reads."""
    if isinstance(node, dict):
        return {
            k: _strip(v)
            for k, v in node.items()
            if k not in ("examples", "example", "externalDocs", "x-github", "x-octokit")
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for v in node.values():
            _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)


def _close_components(doc: dict[str, Any], roots: Any) -> dict[str, dict[str, Any]]:
    """Return the components reachable from `roots`, following $refs transitively."""
    seen: set[str] = set()
    todo: set[str] = set()
    _refs(roots, todo)
    out: dict[str, dict[str, Any]] = {}
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = _strip(doc["components"][kind][name])
        out.setdefault(kind, {})[name] = node
        new: set[str] = set()
        _refs(node, new)
        todo |= new - seen
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


def vendor_api(doc: dict[str, Any]) -> dict[str, Any]:
    missing = [p for p in API_PATHS if p not in doc["paths"]]
    if missing:
        raise SystemExit(f"paths missing from {API_PACKAGE}: {missing}")
    paths = {p: _strip(doc["paths"][p]) for p in API_PATHS}
    return {
        "openapi": doc["openapi"],
        "info": {**doc["info"], "x-vendored-by": "scripts/vendor_github_openapi.py"},
        "servers": doc.get("servers", [{"url": "https://api.github.com"}]),
        "paths": paths,
        "components": _close_components(doc, paths),
    }


def vendor_webhooks(doc: dict[str, Any]) -> dict[str, Any]:
    missing = [w for w in WEBHOOKS if w not in doc["webhooks"]]
    if missing:
        raise SystemExit(f"webhooks missing from {WEBHOOKS_PACKAGE}: {missing}")
    hooks = {w: _strip(doc["webhooks"][w]) for w in WEBHOOKS}
    return {
        "openapi": doc["openapi"],
        "info": {**doc["info"], "x-vendored-by": "scripts/vendor_github_openapi.py"},
        "webhooks": hooks,
        "components": _close_components(doc, hooks),
    }


def _npm_pack(package: str, dest: Path) -> Path:
    out = subprocess.run(
        ["npm", "pack", package, "--silent", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
    )
    tgz = dest / out.stdout.strip().splitlines()[-1]
    target = dest / package.replace("@", "").replace("/", "-")
    with tarfile.open(tgz) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def _version(pkg_dir: Path) -> str:
    return str(json.loads((pkg_dir / "package.json").read_text())["version"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="src", type=Path, help="dir with openapi/ and webhooks/")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.src:
            api_dir, hooks_dir = args.src / "openapi", args.src / "webhooks"
        else:
            api_dir = _npm_pack(API_PACKAGE, Path(tmp))
            hooks_dir = _npm_pack(WEBHOOKS_PACKAGE, Path(tmp))
        api = json.loads((api_dir / "generated" / "api.github.com.json").read_text())
        hooks = json.loads((hooks_dir / "generated" / "api.github.com.json").read_text())
        OUT.mkdir(parents=True, exist_ok=True)
        api_out = vendor_api(api)
        api_out["info"]["x-npm-package"] = f"{API_PACKAGE}@{_version(api_dir)}"
        hooks_out = vendor_webhooks(hooks)
        hooks_out["info"]["x-npm-package"] = f"{WEBHOOKS_PACKAGE}@{_version(hooks_dir)}"
        for name, data in (("api.github.com.json", api_out), ("webhooks.json", hooks_out)):
            path = OUT / name
            path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
