"""`terraform test` of infra/modules/control-plane (plan-only, mock AWS provider): the three
functions and their handlers, the public webhook URL and its permissions, the reconcile
schedule, IAM per function scoped to this fleet, no credential managed by Terraform, options
and input validation. See infra/modules/control-plane/tests/control_plane.tftest.hcl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from runnerfleet.terraform import write_cli_config

pytestmark = pytest.mark.terraform

MODULE = Path(__file__).resolve().parents[3] / "infra" / "modules" / "control-plane"


def test_control_plane_module_terraform_tests(tmp_path: Path) -> None:
    exe = shutil.which("terraform")
    if exe is None:
        pytest.fail("terraform is not on PATH; the control-plane module tests need it")
    copy = tmp_path / "control-plane"
    shutil.copytree(MODULE, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    env = {
        "PATH": str(Path(exe).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TF_CLI_CONFIG_FILE": str(write_cli_config(tmp_path / "tf.rc")),
        "TF_IN_AUTOMATION": "1",
    }
    init = subprocess.run(
        [exe, "init", "-backend=false", "-input=false", "-no-color"],
        cwd=copy, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    result = subprocess.run(
        [exe, "test", "-no-color"], cwd=copy, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed, 0 failed" in result.stdout
