"""`terraform test` (mock AWS provider) of every module under infra/modules with tests.

Each module that has `tests/*.tftest.hcl` is copied to a temporary folder, initialised with
the session's mirror-backed CLI config and tested; the modules run in parallel (inits one at a
time, because they share the plugin cache). Every `run` block must pass: the expected count
is read from the test files, so a run that Terraform skips fails this test too.

Modules that have their own pytest wrapper (DEDICATED) are left to it, so the suite does not
pay for the same `terraform test` twice; if that wrapper disappears, the module is run here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.terraform

REPO = Path(__file__).resolve().parents[3]
MODULES = REPO / "infra" / "modules"
TIMEOUT = 600

# Modules whose `terraform test` already runs in a dedicated wrapper.
DEDICATED = {
    "monitoring": REPO / "tests" / "integration" / "terraform" / "test_monitoring_module.py",
    "control-plane": REPO / "tests" / "integration" / "hosts" / "test_control_plane_module.py",
}

_RUN_RE = re.compile(r'^\s*run\s+"[^"]+"\s*\{', re.MULTILINE)


def modules_with_tests() -> list[str]:
    """Names of the modules with `tests/*.tftest.hcl`, except those with a dedicated wrapper."""
    return sorted(
        d.name
        for d in MODULES.iterdir()
        if d.is_dir()
        and any((d / "tests").glob("*.tftest.hcl"))
        and not DEDICATED.get(d.name, Path("/nonexistent")).is_file()
    )


def expected_runs(module: Path) -> int:
    """Number of `run` blocks in the module's test files."""
    return sum(
        len(_RUN_RE.findall(f.read_text(encoding="utf-8")))
        for f in (module / "tests").glob("*.tftest.hcl")
    )


@dataclass(frozen=True)
class Outcome:
    """What `terraform init` + `terraform test` printed for one module."""

    module: str
    init_rc: int
    test_rc: int
    output: str


def _env(cli_config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(cli_config), TF_IN_AUTOMATION="1", TF_INPUT="0")
    return env


def _copy(name: str, base: Path) -> Path:
    dest = base / name
    shutil.copytree(
        MODULES / name, dest, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
    )
    return dest


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@pytest.fixture(scope="session")
def tftest_outcomes(
    tf_cli_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Run every module's `terraform test` once per session (in parallel)."""
    if shutil.which("terraform") is None:
        raise AssertionError("terraform is not on PATH; run scripts/setup-dev.sh")
    base = tmp_path_factory.mktemp("tftest")
    env = _env(tf_cli_config)
    inits: dict[str, tuple[Path, subprocess.CompletedProcess[str]]] = {}
    for name in modules_with_tests():
        copy = _copy(name, base)
        init = _run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], copy, env)
        inits[name] = (copy, init)

    def test(name: str) -> Outcome:
        copy, init = inits[name]
        if init.returncode != 0:
            return Outcome(name, init.returncode, -1, init.stdout + init.stderr)
        result = _run(["terraform", "test", "-no-color"], copy, env)
        return Outcome(name, 0, result.returncode, result.stdout + result.stderr)

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(inits)))) as pool:
        return {o.module: o for o in pool.map(test, inits)}


def test_modules_are_found() -> None:
    """The network and runner-fleet modules ship terraform tests and are run here."""
    found = modules_with_tests()
    assert {"network", "runner-fleet"} <= set(found), found


@pytest.mark.parametrize("module", modules_with_tests())
def test_module_terraform_tests_pass(
    module: str, tftest_outcomes: dict[str, Outcome], request: pytest.FixtureRequest
) -> None:
    outcome = tftest_outcomes[module]
    assert outcome.init_rc == 0, (
        f"terraform init failed in infra/modules/{module}:\n{outcome.output}"
    )
    assert outcome.test_rc == 0, (
        f"terraform test failed in infra/modules/{module}:\n{outcome.output}"
    )
    runs = expected_runs(MODULES / module)
    assert runs > 0
    assert f"Success! {runs} passed, 0 failed." in outcome.output, (
        f"expected all {runs} run blocks of infra/modules/{module} to pass:\n{outcome.output}"
    )


def test_run_block_counter_counts_runs() -> None:
    """The expected-count parser sees every run block (and nothing else)."""
    text = 'variables {\n}\n\nrun "a" {\n  command = plan\n}\n\n  run "b-c" {\n}\n# run "x"\n'
    assert len(_RUN_RE.findall(text)) == 2
