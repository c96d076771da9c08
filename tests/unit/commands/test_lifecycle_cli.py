"""CLI behaviour that needs no emulator: bad configs exit 2 and create nothing; init."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runnerfleet.cli import app

BAD_CONFIGS = [
    ('name = "X"', "name"),
    ('[aws]\nregion = "moon-1"', "aws.region"),
    ('[network]\nvpc_cidr = "10.0.0.0/40"', "network.vpc_cidr"),
    ('[network]\npublic_subnet_cidrs = ["172.16.0.0/24"]', "network.public_subnet_cidrs[0]"),
    ('[network]\nprivate_subnet_cidrs = ["10.0.1.0/24"]', "network.private_subnet_cidrs[0]"),
    ('[network]\navailability_zones = ["us-west-2a"]', "network.availability_zones"),
    ('[backend]\nbucket = "UPPER"', "backend.bucket"),
    ('[backend]\nlocking = "none"', "backend.locking"),
    ("[runners]\ncount = -1", "runners.count"),
    ('[runners]\ninstance_type = "big"', "runners.instance_type"),
    ("[runners]\nvolume_size = 1", "runners.volume_size"),
    ('[runners]\nami_id = "ubuntu"', "runners.ami_id"),
    ('[github]\nurl = "not a url"', "github.url"),
    ("[monitoring]\nlog_retention_days = 2", "monitoring.log_retention_days"),
    ("name = ", "name (line 1)"),
]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("RUNNERFLEET_"):
            monkeypatch.delenv(key)
    return tmp_path


@pytest.mark.parametrize("command", ["up", "plan", "down", "status"])
@pytest.mark.parametrize(("toml", "field"), BAD_CONFIGS, ids=[f for _, f in BAD_CONFIGS])
def test_bad_config_exits_2_names_field_creates_nothing(
    in_tmp: Path, toml: str, field: str, command: str
) -> None:
    (in_tmp / "runnerfleet.toml").write_text(toml + "\n")
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 2, result.output
    assert field in result.output
    assert sorted(p.name for p in in_tmp.iterdir()) == ["runnerfleet.toml"]


def test_init_writes_a_valid_commented_config_and_never_overwrites(in_tmp: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["init", "--name", "acme-ci", "--owner", "acme", "--count", "2"])
    assert result.exit_code == 0, result.output
    text = (in_tmp / "runnerfleet.toml").read_text()
    assert 'name = "acme-ci"' in text and "count = 2" in text and "# " in text
    again = runner.invoke(app, ["init", "--name", "other"])
    assert again.exit_code == 2
    assert "--force" in again.output
    assert 'name = "acme-ci"' in (in_tmp / "runnerfleet.toml").read_text()
    forced = runner.invoke(app, ["init", "--name", "other-ci", "--force"])
    assert forced.exit_code == 0
    assert 'name = "other-ci"' in (in_tmp / "runnerfleet.toml").read_text()


def test_init_rejects_bad_flags_without_writing(in_tmp: Path) -> None:
    result = CliRunner().invoke(app, ["init", "--name", "Bad Name"])
    assert result.exit_code == 2
    assert "name" in result.output
    assert not (in_tmp / "runnerfleet.toml").exists()


def test_apply_of_missing_plan_is_a_usage_error(in_tmp: Path) -> None:
    result = CliRunner().invoke(app, ["apply", "nope.tfplan", "--sandbox"])
    assert result.exit_code == 2
    assert "runnerfleet plan --out" in result.output


def test_every_command_has_help() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for command in ("init", "up", "plan", "apply", "down", "status"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage" in result.output


def test_down_with_nothing_running_exits_0_and_says_so(in_tmp: Path) -> None:
    """Idempotent teardown: the sandbox keeps everything in its emulators; stopped, none."""
    for args in (["down", "--sandbox"], ["down", "--sandbox", "--json"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "nothing to destroy" in result.output or '"nothing_running": true' in result.output
