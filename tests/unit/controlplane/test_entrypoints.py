"""The Lambda entry points import and run with typer, rich, pydantic and moto unavailable
(the zip holds runnerfleet and its Lambda dependencies; the runtime adds boto3)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

BLOCKED = ("typer", "rich", "pydantic", "pydantic_settings", "moto")

PROBE = textwrap.dedent(
    """
    import importlib.abc, json, sys

    BLOCKED = {blocked!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is not in the Lambda zip")
            return None

    sys.meta_path.insert(0, Block())
    from runnerfleet.controlplane import entrypoints
    for mod in {modules!r}:
        __import__(mod)
    # a webhook event that needs no AWS: an unsigned body is refused before any I/O
    import os
    os.environ.pop("RUNNERFLEET_NAME", None)
    reply = entrypoints.webhook({{"headers": {{}}, "body": "{{}}"}}, None)
    print(json.dumps({{"status": reply["statusCode"],
                      "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}}))
    """
)

LAMBDA_MODULES = [
    "runnerfleet.controlplane.webhook_handler",
    "runnerfleet.controlplane.compose",
    "runnerfleet.controlplane.settings",
    "runnerfleet.controlplane.registrar",
    "runnerfleet.controlplane.reconciler",
    "runnerfleet.controlplane.events",
    "runnerfleet.controlplane.fleet",
    "runnerfleet.controlplane.metrics",
    "runnerfleet.vocabulary",
]


def test_entrypoints_import_without_cli_libraries() -> None:
    code = PROBE.format(blocked=BLOCKED, modules=LAMBDA_MODULES)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["loaded"] == []
    assert doc["status"] == 500  # no RUNNERFLEET_NAME: refused, logged, no detail leaked


def test_entrypoints_are_the_handlers_terraform_names() -> None:
    from runnerfleet.controlplane import entrypoints

    for name in ("webhook", "reconcile", "registrar"):
        assert callable(getattr(entrypoints, name))
