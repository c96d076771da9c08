"""The Terraform working folder: a copy of `infra/` plus rendered inputs.

`runnerfleet` never runs Terraform inside the source tree. It copies `infra/` to
`<project>/.runnerfleet/work/<target>/infra`, writes `runnerfleet.auto.tfvars.json`, the
backend config (`backend.tfbackend`) and, in the sandbox only, Terraform override files
(`*_override.tf`) that point the provider at the emulator and hold the emulator workarounds of
DESIGN.md §5. The modules users deploy stay free of them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

STACK = "stacks/ec2-runner"
TFVARS_NAME = "runnerfleet.auto.tfvars.json"
BACKEND_NAME = "backend.tfbackend"

# Sandbox-only Terraform override files, laid out like infra/ (see sandbox_overrides/README.md).
SANDBOX_OVERRIDES_DIR = Path(__file__).parent / "sandbox_overrides"


def sandbox_module_overrides() -> dict[str, str]:
    """{folder relative to infra/: override file text} for every sandbox override file."""
    return {
        str(f.parent.relative_to(SANDBOX_OVERRIDES_DIR)): f.read_text(encoding="utf-8")
        for f in sorted(SANDBOX_OVERRIDES_DIR.rglob("*_override.tf"))
    }


class WorkspaceError(Exception):
    """The infra sources cannot be found or copied."""


def infra_source() -> Path:
    """The `infra/` folder shipped with runnerfleet (the repository's, for a source install)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "infra" / "stacks" / "ec2-runner"
        if cand.is_dir():
            return parent / "infra"
    packaged = here.parent / "infra"
    if (packaged / "stacks").is_dir():
        return packaged
    raise WorkspaceError(
        "cannot find the infra/ folder; install runnerfleet from its source tree "
        "(pip install -e .) so the Terraform modules come with it"
    )


def _hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_hcl_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_hcl_value(v) for v in value) + "]"
    raise TypeError(f"cannot render {value!r} as HCL")


def render_backend(settings: dict[str, Any]) -> str:
    """Render S3 backend settings as a `-backend-config` file."""
    lines = ["# Written by runnerfleet: partial S3 backend configuration."]
    lines += [f"{k} = {_hcl_value(v)}" for k, v in settings.items() if v is not None]
    return "\n".join(lines) + "\n"


class Workspace:
    """One prepared copy of the infra tree."""

    def __init__(self, root: Path):
        self.root = root

    @property
    def infra(self) -> Path:
        return self.root / "infra"

    @property
    def stack_dir(self) -> Path:
        return self.infra / STACK

    @property
    def tfvars(self) -> Path:
        return self.stack_dir / TFVARS_NAME

    @property
    def backend_file(self) -> Path:
        return self.stack_dir / BACKEND_NAME

    def sync(self, source: Path | None = None) -> None:
        """Refresh the .tf sources from `source`, keeping `.terraform/` (providers, backend)."""
        source = source or infra_source()
        self.infra.mkdir(parents=True, exist_ok=True)
        for old in self.infra.rglob("*"):
            if (
                old.is_file()
                and ".terraform" not in old.parts
                and old.name != ".terraform.lock.hcl"
            ):
                old.unlink()
        shutil.copytree(
            source,
            self.infra,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(
                ".terraform", "*.tfstate*", "terraform.tfstate.d", ".terraform.lock.hcl",
                "examples", "tests", "*.tfplan",
            ),
        )  # fmt: skip

    def _init_digest(self) -> str:
        """What `terraform init` depends on: backend settings and the stack's module calls."""
        h = hashlib.sha256(self.backend_file.read_bytes())
        for tf in sorted(self.stack_dir.glob("*.tf")):
            h.update(tf.name.encode())
            h.update(tf.read_bytes())
        return h.hexdigest()

    @property
    def _init_marker(self) -> Path:
        return self.stack_dir / ".terraform" / "runnerfleet-init.sha256"

    def write_inputs(
        self, tfvars: dict[str, Any], backend: dict[str, Any], var_file: Path | None = None
    ) -> None:
        """Write the variables and the backend config.

        With `var_file` (one per run, passed to terraform as -var-file) the variables never go
        to the shared `*.auto.tfvars.json` of the stack, so two runs cannot read each other's.
        """
        target = var_file or self.tfvars
        if var_file is not None:
            self.tfvars.unlink(missing_ok=True)
            var_file.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(tfvars, indent=2, sort_keys=True) + "\n")
        target.chmod(0o600)
        self.backend_file.write_text(render_backend(backend))
        self.backend_file.chmod(0o600)

    def needs_init(self) -> bool:
        """True when backend settings or stack sources changed since the last init."""
        marker = self._init_marker
        if not (self.stack_dir / ".terraform" / "terraform.tfstate").exists():
            return True
        return not marker.exists() or marker.read_text().strip() != self._init_digest()

    def mark_initialized(self) -> None:
        self._init_marker.parent.mkdir(parents=True, exist_ok=True)
        self._init_marker.write_text(self._init_digest())

    def write_overrides(self, stack_override: str, module_overrides: dict[str, str]) -> None:
        """Sandbox only: provider override for the stack plus per-module emulator workarounds."""
        (self.stack_dir / "sandbox_override.tf").write_text(stack_override)
        for rel, text in module_overrides.items():
            folder = self.infra / rel
            if folder.is_dir():
                (folder / "sandbox_override.tf").write_text(text)
