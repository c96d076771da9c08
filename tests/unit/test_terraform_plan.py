"""`Terraform.plan`: the JSON rendering is read only for a plan that changes something.

A stand-in `terraform` records each subcommand it is given: a plan that exits 0 (an empty
diff, `-detailed-exitcode`) is not followed by `show -json`, which starts the provider to
load its schemas (about 2 s) only to list no-ops; a plan that exits 2 is.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runnerfleet.terraform import Binary, Terraform

CHANGES = {"resource_changes": [{"address": "a.b", "change": {"actions": ["create"]}}]}


def _terraform(folder: Path, plan_exit: int) -> tuple[Terraform, Path]:
    calls = folder / "calls.txt"
    script = folder / "terraform-fake"
    script.write_text(
        "#!/bin/bash\n"
        + textwrap.dedent(f"""\
            echo "$1" >> {calls}
            case "$1" in
              plan) exit {plan_exit} ;;
              show) echo '{json.dumps(CHANGES)}' ;;
            esac
            """)
    )
    script.chmod(0o755)
    tf = Terraform(folder, binary=Binary(str(script), "terraform", (1, 11, 0)))
    return tf, calls


@pytest.mark.parametrize(
    ("plan_exit", "commands", "rendered"),
    [(0, ["plan"], {}), (2, ["plan", "show"], CHANGES)],
)
def test_show_json_runs_only_for_a_plan_with_changes(
    tmp_path: Path, plan_exit: int, commands: list[str], rendered: dict[str, object]
) -> None:
    tf, calls = _terraform(tmp_path, plan_exit)
    result = tf.plan(tmp_path / "x.tfplan")
    assert result.has_changes is (plan_exit == 2)
    assert calls.read_text().split() == commands
    assert result.json == rendered
    if plan_exit == 0:
        assert result.summary() == {"create": 0, "update": 0, "delete": 0, "replace": 0}
        assert result.changed_addresses() == []
