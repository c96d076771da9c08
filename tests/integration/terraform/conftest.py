"""Shared, session-scoped Terraform fixtures for tests that read plans of the root stack.

- `tf_cli_config`: a Terraform CLI config (provider filesystem mirror + a plugin cache shared
  by every `terraform init` of the session).
- `moto_server`: a moto server on 127.0.0.1 (free port), started once per session, with AWS
  managed IAM policies loaded; stopped by its pid at the end.
- `stack_plan_json`: `stack_plan_json(mode)` -> the `terraform show -json` document of a plan
  of infra/stacks/ec2-runner against that moto server, for mode "static" or "autoscaled"
  (see PLAN_CONFIGS). Each mode is planned once per session; the first call plans every
  mode at once, in parallel. `stack_plan_json.path(mode)` is the JSON file (for checkov).

Plans run on a temporary copy of infra/ with two override files added to the stack: the
provider pointed at moto with dummy credentials, and a local backend instead of the S3 one.
The repository's own files are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from runnerfleet.config import FleetConfig, to_tfvars, validate
from runnerfleet.sandbox import Sandbox, provider_override

REPO = Path(__file__).resolve().parents[3]
INFRA = REPO / "infra"
STACK = "ec2-runner"
REGION = "us-east-1"
DUMMY_KEY = "testing"  # moto accepts any credentials; not a secret
PLAN_AMI = "ami-0123456789abcdef0"  # plans only; nothing is launched

# Provider endpoint keys the stack may need (valid in hashicorp/aws 5.100 and 6.x).

# The two fleet shapes every plan-reading test sees. They switch on the optional parts
# (flow logs, interface endpoints, SNS alarm actions, warm pool, schedules) so that checkov
# and the IAM scan see every resource the stack can create.
PLAN_CONFIGS: dict[str, dict[str, Any]] = {
    "static": {
        "name": "rfscan",
        "network": {"interface_endpoints": True},  # flow logs: on by default (CKV2_AWS_11)
        "runners": {
            "mode": "static", "count": 2, "ami_id": PLAN_AMI,
            "s3_bucket_names": ["rfscan-artifacts"],
        },
        # detailed monitoring on here and off (the default) in autoscaled: the stack must
        # pass [monitoring] detailed_monitoring to both kinds of runner host
        "monitoring": {"log_retention_days": 30, "detailed_monitoring": True},
    },
    "autoscaled": {
        "name": "rfscan",
        "network": {
            "availability_zones": ["us-east-1a", "us-east-1b"],
            "public_subnet_cidrs": ["10.0.1.0/24", "10.0.3.0/24"],
            "private_subnet_cidrs": ["10.0.2.0/24", "10.0.4.0/24"],
            "nat": "per_az",
            "flow_logs": True,
        },
        "runners": {
            "mode": "autoscaled",
            "ami_id": PLAN_AMI,
            "pools": [
                {
                    "name": "default",
                    "min_size": 0,
                    "max_size": 4,
                    "instance_types": ["t3.medium", "t3a.medium"],
                    "on_demand_base_capacity": 1,
                    "on_demand_percentage_above_base": 50,
                    "schedules": [
                        {"name": "workday", "recurrence": "0 8 * * MON-FRI", "min_size": 1}
                    ],
                },
                {"name": "warm", "max_size": 2, "warm_pool_size": 1},
            ],
        },
        "monitoring": {"alarm_sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:rfscan-alerts"},
    },
}  # fmt: skip


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
        raise AssertionError(f"`{' '.join(cmd)}` failed in {cwd} (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def _find_mirror() -> Path | None:
    try:
        from runnerfleet.terraform import discover_mirror
    except ImportError:  # pragma: no cover - the harness predates this fixture
        return None
    return discover_mirror()


@pytest.fixture(scope="session")
def tf_cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CLI config: hashicorp/* providers from the filesystem mirror, a shared plugin cache."""
    if shutil.which("terraform") is None:
        raise AssertionError("terraform is not on PATH; run scripts/setup-dev.sh")
    base = tmp_path_factory.mktemp("tfcli")
    from runnerfleet.terraform import write_cli_config

    cache = base / "cache"
    return write_cli_config(base / "terraform.rc", mirror=_find_mirror(), plugin_cache=cache)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a moto server on 127.0.0.1 for this session (the sandbox's own start-up)."""
    box = Sandbox(tmp_path_factory.mktemp("moto") / ".runnerfleet", region=REGION)
    box.start(with_github=False)
    try:
        yield box.endpoint
    finally:
        box.stop()


BACKEND_OVERRIDE = """# test-only: local state instead of the partial S3 backend
terraform {
  backend "local" {}
}
"""


class StackPlans:
    """`plans(mode)` -> plan JSON; planned lazily, all modes together, once per session."""

    def __init__(self, workdir: Path, cli_config: Path, endpoint: str):
        self.workdir = workdir
        self.cli_config = cli_config
        self.endpoint = endpoint
        self._files: dict[str, Path] = {}
        self._json: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, str] = {}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        env.update(
            TF_CLI_CONFIG_FILE=str(self.cli_config),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            AWS_ACCESS_KEY_ID=DUMMY_KEY,
            AWS_SECRET_ACCESS_KEY=DUMMY_KEY,
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
        )
        return env

    @staticmethod
    def config(mode: str) -> FleetConfig:
        if mode not in PLAN_CONFIGS:
            raise AssertionError(f"unknown plan mode {mode!r}; use one of {sorted(PLAN_CONFIGS)}")
        return validate(PLAN_CONFIGS[mode])

    def _plan(self, mode: str) -> None:
        infra = self.workdir / "infra"
        stack = infra / "stacks" / f"{STACK}-{mode}"  # a sibling: ../../modules still resolves
        shutil.copytree(infra / "stacks" / STACK, stack)
        (stack / "zz_test_provider_override.tf").write_text(
            provider_override(self.endpoint, REGION)
        )
        (stack / "zz_test_backend_override.tf").write_text(BACKEND_OVERRIDE)
        tfvars = to_tfvars(self.config(mode))
        if "log_kms_key_arn" not in tfvars:  # the monitoring area's own stack variable
            tfvars["log_kms_key_arn"] = None
        (stack / "test.auto.tfvars.json").write_text(json.dumps(tfvars, indent=2))
        # The control plane is planned only when its Lambda package exists (control_plane.tf);
        # a stand-in zip lets the plan include it (nothing is deployed or invoked).
        package = stack / "build" / "control-plane.zip"
        package.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(package, "w") as zf:
            zf.writestr("runnerfleet/__init__.py", "# plan-only stand-in package\n")
        env = self._env()
        _run(["terraform", "init", "-input=false", "-no-color"], stack, env)
        _run(["terraform", "plan", "-input=false", "-no-color", "-out=tfplan"], stack, env)
        shown = _run(["terraform", "show", "-json", "tfplan"], stack, env)
        path = self.workdir / f"plan-{mode}.json"
        path.write_text(shown)
        self._files[mode] = path
        self._json[mode] = json.loads(shown)

    def ensure(self, *modes: str) -> None:
        todo = [m for m in (modes or tuple(PLAN_CONFIGS)) if m not in self._json]
        for m in todo:
            self.config(m)
            self._errors.pop(m, None)
        if not todo:
            return
        infra = self.workdir / "infra"
        if not infra.exists():
            shutil.copytree(
                INFRA, infra, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "tfplan")
            )
            # The rest of the repository, linked, for code that reaches outside infra/ by a
            # relative path (for example a function package built from src/).
            for entry in REPO.iterdir():
                if entry.name != "infra" and not entry.name.startswith("."):
                    (self.workdir / entry.name).symlink_to(entry)
        with ThreadPoolExecutor(max_workers=len(todo)) as pool:
            futures = {m: pool.submit(self._plan, m) for m in todo}
        for m, fut in futures.items():
            exc = fut.exception()
            if exc is not None:
                self._errors[m] = str(exc)

    def __call__(self, mode: str) -> dict[str, Any]:
        if mode not in self._json and mode not in self._errors:
            self.ensure(*PLAN_CONFIGS)
        if mode in self._errors:
            raise AssertionError(f"planning the stack in {mode} mode failed:\n{self._errors[mode]}")
        return self._json[mode]

    def path(self, mode: str) -> Path:
        self(mode)
        return self._files[mode]


@pytest.fixture(scope="session")
def stack_plan_json(
    tmp_path_factory: pytest.TempPathFactory, tf_cli_config: Path, moto_server: str
) -> StackPlans:
    """Callable: `stack_plan_json("static" | "autoscaled")` -> plan JSON of the root stack."""
    return StackPlans(tmp_path_factory.mktemp("stackplans"), tf_cli_config, moto_server)
