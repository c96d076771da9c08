"""Benchmark: how long `runnerfleet up` takes in the sandbox, and its overhead over raw terraform.

Prints JSON: wall time of a cold `up` (emulators start, backend bootstrap, init, plan, apply,
runners online), of a no-change `up`, and of a raw `terraform init` + `terraform apply` of the
same stack with the same inputs against the same emulator, measured in this run, with the ratio
of the cold `up` to the raw apply.

    python3 benchmarks/sandbox_up.py [--count N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runnerfleet.sandbox import Sandbox
from runnerfleet.terraform import find_binary


def _cli(project: Path, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNNERFLEET_"))}
    env["AWS_CONFIG_FILE"] = str(project / "none")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(project / "none")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "runnerfleet.cli", *args],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"runnerfleet {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return elapsed


def _raw_terraform(project: Path, box: Sandbox) -> float:
    """init + apply of the prepared working copy, as a person would run it by hand."""
    stack = project / ".runnerfleet/work/sandbox/infra/stacks/ec2-runner"
    tf = find_binary().path
    env = dict(os.environ)
    env.update({k: v for k, v in box.aws_env().items() if v})
    env["TF_CLI_CONFIG_FILE"] = str(project / ".runnerfleet/terraform.rc")
    env["TF_IN_AUTOMATION"] = "1"
    start = time.perf_counter()
    for args in (
        ["init", "-input=false", "-reconfigure", "-backend-config=backend.tfbackend"],
        ["apply", "-input=false", "-auto-approve"],
    ):
        subprocess.run([tf, *args], cwd=stack, env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    subprocess.run(
        [tf, "destroy", "-input=false", "-auto-approve"],
        cwd=stack, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1, help="static runner count")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
        project = Path(tmp)
        (project / "runnerfleet.toml").write_text(
            f'name = "bench"\n[runners]\nmode = "static"\ncount = {args.count}\n'
        )
        box = Sandbox(project / ".runnerfleet")
        try:
            cold = _cli(project, "up", "--sandbox")
            noop = _cli(project, "up", "--sandbox")
            _cli(project, "down", "--keep-sandbox")
            raw = _raw_terraform(project, Sandbox(project / ".runnerfleet"))
        finally:
            box = Sandbox(project / ".runnerfleet")
            box.stop()
    print(
        json.dumps(
            {
                "benchmark": "sandbox_up",
                "runner_count": args.count,
                "cold_up_seconds": round(cold, 2),
                "noop_up_seconds": round(noop, 2),
                "raw_terraform_init_apply_seconds": round(raw, 2),
                "ratio_cold_up_to_raw_apply": round(cold / raw, 3),
                "ratio_noop_up_to_cold_up": round(noop / cold, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
