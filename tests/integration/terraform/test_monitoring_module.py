"""`terraform test` of infra/modules/monitoring (mock AWS provider): log group names, retention
and KMS, the CloudWatch agent configuration, alarm actions with and without an SNS topic, the
dashboard's metrics, and input validation. See infra/modules/monitoring/tests/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.terraform

MODULE = Path(__file__).resolve().parents[3] / "infra" / "modules" / "monitoring"
RUNS = 10  # run blocks in tests/monitoring.tftest.hcl


def test_monitoring_module_terraform_tests(tmp_path: Path, tf_cli_config: Path) -> None:
    copy = tmp_path / "monitoring"
    shutil.copytree(MODULE, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(tf_cli_config), TF_IN_AUTOMATION="1", TF_INPUT="0")
    init = subprocess.run(
        ["terraform", "init", "-backend=false", "-input=false", "-no-color"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    result = subprocess.run(
        ["terraform", "test", "-no-color"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{RUNS} passed, 0 failed" in result.stdout, result.stdout
