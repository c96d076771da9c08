"""`runnerfleet render user-data` renders from runnerfleet.toml, to stdout or a file."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from runnerfleet.cli import app

runner = CliRunner()


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "runnerfleet.toml"
    path.write_text(body)
    return path


def test_static_to_stdout(tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'name = "demo"\n[runners]\nlabels = ["gpu"]\n')
    result = runner.invoke(app, ["render", "user-data", "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.stdout)
    env = next(f for f in doc["write_files"] if f["path"] == "/etc/runnerfleet/host.env")
    assert "RUNNERFLEET_RUNNER_LABELS='self-hosted,linux,x64,gpu'" in env["content"]
    assert "RUNNERFLEET_POOL='static'" in env["content"]
    assert "RUNNERFLEET_REGISTRATION_PARAMETER_PREFIX='/demo/runners'" in env["content"]


def test_autoscaled_pool_to_file(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        'name = "demo"\n[runners]\nmode = "autoscaled"\nephemeral = true\n'
        '[[runners.pools]]\nname = "big"\nlabels = ["large"]\n',
    )
    out = tmp_path / "out" / "ud.yaml"
    result = runner.invoke(app, ["render", "user-data", "-c", str(cfg), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "RUNNERFLEET_POOL='big'" in text and "RUNNERFLEET_EPHEMERAL='true'" in text
    assert "x64,large" in text


def test_bad_input_exits_2_with_the_fix(tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'name = "demo"\n[runners]\nrunner_version = "2.300.0"\n')
    result = runner.invoke(app, ["render", "user-data", "-c", str(cfg)])
    assert result.exit_code == 2
    assert "no known checksum" in result.output and "runner_sha256" in result.output
    cfg = _config(tmp_path, 'name = "demo"\n')
    result = runner.invoke(app, ["render", "user-data", "-c", str(cfg), "--mode", "nope"])
    assert result.exit_code == 2 and "static or autoscaled" in result.output
    result = runner.invoke(app, ["render", "user-data", "-c", str(cfg), "--pool", "x"])
    assert result.exit_code == 2 and "autoscaled only" in result.output
