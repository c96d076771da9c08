"""A temporary project folder for end-to-end tests: runs the real `runnerfleet` CLI in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runnerfleet.sandbox import Sandbox


@dataclass
class Project:
    """A temporary project folder with its own runnerfleet.toml and sandbox."""

    root: Path
    # Extra variables, e.g. the sandbox clock. By default the boot model's simulated cloud-init
    # (20 s) is shortened to 2 s: a test that measures pickup sets its own.
    env: dict[str, str] = field(default_factory=lambda: {"RUNNERFLEET_SANDBOX_BOOT_SECONDS": "2"})

    def write_config(self, text: str) -> None:
        (self.root / "runnerfleet.toml").write_text(text)

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNNERFLEET_"))}
        env["AWS_CONFIG_FILE"] = str(self.root / "no-aws-config")
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.root / "no-aws-credentials")
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env.update(self.env)
        return subprocess.run(
            [sys.executable, "-m", "runnerfleet.cli", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_json(self, *args: str) -> Any:
        proc = self.run(*args, "--json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)

    @property
    def sandbox(self) -> Sandbox:
        return Sandbox(self.root / ".runnerfleet")
