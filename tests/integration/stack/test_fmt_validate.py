"""`terraform fmt -check` and `terraform validate` on every module, example and stack."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runnerfleet.terraform import Terraform, write_cli_config

pytestmark = pytest.mark.terraform

INFRA = Path(__file__).parents[3] / "infra"


def _roots() -> list[Path]:
    roots = [p for p in sorted((INFRA / "modules").iterdir()) if (p / "main.tf").exists()]
    roots += [p.parent for p in sorted(INFRA.glob("modules/*/examples/*/main.tf"))]
    roots += [p for p in sorted((INFRA / "stacks").iterdir()) if p.is_dir()]
    return roots


def test_every_module_has_terraform_files() -> None:
    modules = [p.name for p in (INFRA / "modules").iterdir() if p.is_dir()]
    assert {"network", "runner-fleet", "monitoring", "control-plane", "github-oidc"} <= set(modules)
    for name in modules:
        for f in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (INFRA / "modules" / name / f).exists(), f"infra/modules/{name}/{f} missing"


def test_fmt_check_is_clean(tmp_path: Path) -> None:
    tf = Terraform(INFRA, cli_config=write_cli_config(tmp_path / "tf.rc"))
    assert tf.fmt_check() == [], "run `terraform fmt -recursive infra`"


def test_validate_every_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("validate")
    cli = write_cli_config(base / "tf.rc", plugin_cache=base / "cache")
    copy = base / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    roots = [copy / r.relative_to(INFRA) for r in _roots()]

    def check(root: Path) -> tuple[str, list[str]]:
        tf = Terraform(root, cli_config=cli)
        tf.run(["init", "-backend=false", "-input=false", "-no-color"], capture=True)
        result = tf.validate()
        errors = [d["summary"] + ": " + d.get("detail", "") for d in result["diagnostics"]
                  if d["severity"] == "error"]  # fmt: skip
        return str(root.relative_to(copy)), errors

    # Serialise the first init so the plugin cache is filled once.
    results = [check(roots[0])]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results += list(pool.map(check, roots[1:]))
    failed = {name: errs for name, errs in results if errs}
    assert not failed, failed
    assert len(results) >= 6
