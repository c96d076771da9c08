"""The runner hosts' user data: cloud-init's own JSON schema, shellcheck on every script, no
secret, byte-for-byte the same as Terraform's templatefile(), and a fail-closed runner install.

The schema comes from Debian's cloud-init package and shellcheck from apt, both installed by
scripts/setup.d/40-hostcheck.sh; when either is missing the tests fail and say so.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from runnerfleet.agent.runner_release import CHECKSUMS, UnknownRunnerVersion, checksum
from runnerfleet.agent.userdata import (
    TEMPLATE_VARIABLES,
    HostSettings,
    TemplateError,
    render_template,
    render_user_data,
    secret_findings,
    settings_from_config,
    templates_dir,
)
from runnerfleet.config import DEFAULT_RUNNER_VERSION

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = (
    ROOT
    / ".tools/cloud-init/root/usr/lib/python3/dist-packages/cloudinit/config/schemas"
    / "schema-cloud-config-v1.json"
)
SETUP_HINT = "run `bash scripts/setup.d/40-hostcheck.sh` (as root) to install it"

VARIANTS: dict[str, tuple[list[str], bool]] = {
    "static-persistent": ([], False),
    "ephemeral-labels": (["gpu", "big-disk"], True),
}


def _settings(variant: str, **over: Any) -> HostSettings:
    labels, ephemeral = VARIANTS[variant]
    base = settings_from_config(
        name="rf",
        region="us-east-1",
        runner_version=DEFAULT_RUNNER_VERSION,
        labels=labels,
        ephemeral=ephemeral,
        app_image="nginxdemos/hello:plain-text",
    )
    return HostSettings(**{**base.variables(), **over})


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    text = render_user_data(_settings(request.param))
    return text, yaml.safe_load(text)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not SCHEMA.is_file():
        pytest.fail(f"cloud-init's schema is missing at {SCHEMA}; {SETUP_HINT}")
    data: dict[str, Any] = json.loads(SCHEMA.read_text())
    return data


def _schema_errors(doc: Any, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(schema)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]


def test_user_data_passes_cloud_init_schema(
    rendered: tuple[str, dict[str, Any]], schema: dict[str, Any]
) -> None:
    text, doc = rendered
    assert text.startswith("#cloud-config\n")
    assert _schema_errors(doc, schema) == []
    assert doc["output"]["all"] == "| tee -a /var/log/user-data.log"
    assert [u["name"] for u in doc["users"] if isinstance(u, dict)] == ["runner"]


def test_schema_check_catches_a_broken_document(schema: dict[str, Any]) -> None:
    broken = {"packages": "nginx", "users": [{"name": "runner", "lock_passwd": "yes"}]}
    assert len(_schema_errors(broken, schema)) >= 2


def _scripts(doc: dict[str, Any]) -> dict[str, str]:
    out = {
        f["path"]: f["content"]
        for f in doc["write_files"]
        if f["path"].endswith(".sh") or f["content"].startswith("#!")
    }
    out["runcmd"] = "#!/bin/sh\n" + "\n".join(" ".join(c) for c in doc["runcmd"]) + "\n"
    return out


def _shellcheck(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.fail(f"shellcheck is not installed; {SETUP_HINT}")
    return subprocess.run(
        [exe, "--severity=style", "--format=gcc", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_rendered_script_passes_shellcheck(
    rendered: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    _, doc = rendered
    scripts = _scripts(doc)
    assert {
        "/usr/local/lib/runnerfleet/bootstrap.sh",
        "/usr/local/lib/runnerfleet/install-docker.sh",
        "/usr/local/lib/runnerfleet/install-runner.sh",
    } <= set(scripts)
    problems = []
    for i, (name, content) in enumerate(sorted(scripts.items())):
        path = tmp_path / f"{i}-{Path(name).name}"
        path.write_text(content)
        result = _shellcheck(path)
        if result.returncode != 0:
            problems.append(f"{name}:\n{result.stdout}{result.stderr}")
    assert problems == []


def test_shellcheck_catches_a_bad_script(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/bash\nrm -rf $DIR/*\n")
    assert _shellcheck(bad).returncode != 0


def test_user_data_installs_the_seed_software(rendered: tuple[str, dict[str, Any]]) -> None:
    text, doc = rendered
    for needle in (
        "signed-by=/etc/apt/keyrings/docker.asc",
        "docker-compose-plugin",
        "proxy_pass http://127.0.0.1:8080",
        "listen 443 ssl",  # only when a certificate is present (checked in the script)
        "snap install aws-cli --classic",
        "node_22.x",
        "amazon-cloudwatch-agent-ctl",
        "ssm:$RUNNERFLEET_CLOUDWATCH_CONFIG_PARAMETER",
        "usermod -aG docker runner",
        "ExecStart=/opt/runnerfleet/venv/bin/runnerfleet-agent",
    ):
        assert needle in text, needle
    env = next(f for f in doc["write_files"] if f["path"] == "/etc/runnerfleet/host.env")
    assert f"RUNNERFLEET_RUNNER_SHA256='{CHECKSUMS[DEFAULT_RUNNER_VERSION]}'" in env["content"]
    assert "RUNNERFLEET_REGISTRATION_PARAMETER_PREFIX='/rf/runners'" in env["content"]
    assert "RUNNERFLEET_RUNNER_LABELS='self-hosted,linux,x64" in env["content"]


def test_user_data_holds_no_secret(rendered: tuple[str, dict[str, Any]]) -> None:
    text, _ = rendered
    assert secret_findings(text) == []
    for word in ("ghp_", "ghs_", "github_pat_", "PRIVATE KEY", "encoded_jit_config"):
        assert word not in text


@pytest.mark.parametrize(
    "value",
    [
        "ghp_" + "a1" * 18,
        "AKIA" + "ABCDEFGHIJKLMNOP",
        "registry.example.com/app:1?token=abc123",
        "-----BEGIN RSA PRIVATE KEY-----",
    ],
)
def test_secret_shaped_values_are_refused(value: str) -> None:
    with pytest.raises(TemplateError, match="secret-shaped"):
        render_user_data(_settings("static-persistent", app_image=value))


def test_template_variables_are_exactly_the_contract() -> None:
    text = (templates_dir() / "cloud-init.yaml.tftpl").read_text()
    variables = _settings("static-persistent").variables()
    with pytest.raises(TemplateError, match="missing"):
        render_template(text, {k: v for k, v in variables.items() if k != "pool"})
    with pytest.raises(TemplateError, match="unexpected"):
        render_template(text, {**variables, "github_token": "x"})
    with pytest.raises(TemplateError, match="single line"):
        render_template(text, {**variables, "app_image": "a\nruncmd: [reboot]"})
    assert set(TEMPLATE_VARIABLES) == {
        "name", "region", "pool", "runner_version", "runner_sha256", "runner_labels",
        "ephemeral", "app_image", "cloudwatch_config_parameter",
        "registration_parameter_prefix", "runner_name_prefix",
        "agent_bucket", "agent_key", "agent_sha256",
    }  # fmt: skip


def test_unknown_runner_version_names_the_fix() -> None:
    assert checksum(DEFAULT_RUNNER_VERSION) == CHECKSUMS[DEFAULT_RUNNER_VERSION]
    with pytest.raises(UnknownRunnerVersion, match=r"runner_release\.CHECKSUMS"):
        checksum("2.0.0")


def test_python_render_matches_terraform_templatefile(tmp_path: Path) -> None:
    exe = shutil.which("terraform")
    if exe is None:
        pytest.fail("terraform is not on PATH; it is needed to render the template")
    settings = _settings("ephemeral-labels")
    (tmp_path / "main.tf").write_text(
        'variable "vars" {\n  type = any\n}\n'
        f'output "rendered" {{\n  value = templatefile("{templates_dir()}/cloud-init.yaml.tftpl",'
        " var.vars)\n}\n"
    )
    (tmp_path / "t.tfvars.json").write_text(json.dumps({"vars": settings.variables()}))
    (tmp_path / "cli.tfrc").write_text("")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(tmp_path / "cli.tfrc"), "TF_IN_AUTOMATION": "1"}
    for args in (
        ["init", "-input=false", "-no-color"],
        ["apply", "-auto-approve", "-input=false", "-no-color", "-var-file=t.tfvars.json"],
    ):
        subprocess.run([exe, *args], cwd=tmp_path, env=env, check=True, capture_output=True)
    out = subprocess.run(
        [exe, "output", "-json", "rendered"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout) == render_user_data(settings)


def _fake_tarball(path: Path) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"#!/bin/sh\necho fake runner\n"
        info = tarfile.TarInfo("run.sh")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def _install_script(tmp_path: Path) -> Path:
    doc = yaml.safe_load(render_user_data(_settings("static-persistent")))
    [script] = [
        f["content"]
        for f in doc["write_files"]
        if f["path"] == "/usr/local/lib/runnerfleet/install-runner.sh"
    ]
    path = tmp_path / "install-runner.sh"
    path.write_text(script)
    path.chmod(0o755)
    return path


def _run_install(tmp_path: Path, tarball: Path, expected: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "RUNNER_TARBALL": str(tarball),
        "RUNNERFLEET_HOST_ENV": str(tmp_path / "absent.env"),
        "RUNNER_USER": "root",
    }
    return subprocess.run(
        ["bash", str(_install_script(tmp_path)), "2.329.0", expected, str(tmp_path / "dest")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_runner_install_with_wrong_checksum_fails_naming_both_digests(tmp_path: Path) -> None:
    tarball = tmp_path / "actions-runner.tar.gz"
    actual = _fake_tarball(tarball)
    expected = CHECKSUMS[DEFAULT_RUNNER_VERSION]
    result = _run_install(tmp_path, tarball, expected)
    assert result.returncode == 1
    assert f"expected sha256 {expected}" in result.stderr
    assert f"actual sha256 {actual}" in result.stderr
    assert not (tmp_path / "dest" / "run.sh").exists()


def test_runner_install_with_matching_checksum_installs(tmp_path: Path) -> None:
    tarball = tmp_path / "actions-runner.tar.gz"
    actual = _fake_tarball(tarball)
    result = _run_install(tmp_path, tarball, actual.upper())
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dest" / "run.sh").is_file()
    assert f"sha256 {actual} verified" in result.stdout
    bad = _run_install(tmp_path, tarball, "not-a-digest")
    assert bad.returncode == 2 and "is not a SHA-256 hex digest" in bad.stderr


def test_hosts_install_the_agent_of_this_release(rendered: tuple[str, dict[str, Any]]) -> None:
    import runnerfleet

    assert f"RUNNERFLEET_AGENT_VERSION='{runnerfleet.__version__}'\n" in rendered[0]


# ---- the agent: from the artifact, started without waiting on cloud-final -----------------


def _write_files(doc: dict[str, Any]) -> dict[str, str]:
    return {f["path"]: f["content"] for f in doc["write_files"]}


def test_no_pip_install_from_an_index(rendered: tuple[str, dict[str, Any]]) -> None:
    text, doc = rendered
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs, "the agent is installed with pip"
    for line in installs:
        assert "--no-index" in line, line
    assert "runnerfleet==" not in text
    agent = _write_files(doc)["/usr/local/lib/runnerfleet/install-agent.sh"]
    assert '--find-links "$work/wheels" "runnerfleet-agent==$version"' in agent
    assert 'aws s3 cp --only-show-errors --region "$RUNNERFLEET_REGION" "$origin"' in agent


def test_host_env_names_the_artifact_and_its_digest() -> None:
    settings = _settings("static-persistent", agent_key="agent/a-1.tar.gz", agent_sha256="ab" * 32)
    doc = yaml.safe_load(render_user_data(settings))
    env = _write_files(doc)["/etc/runnerfleet/host.env"]
    assert "RUNNERFLEET_AGENT_BUCKET='rf-artifacts-ACCOUNT_ID'\n" in env
    assert "RUNNERFLEET_AGENT_KEY='agent/a-1.tar.gz'\n" in env
    assert f"RUNNERFLEET_AGENT_SHA256='{'ab' * 32}'\n" in env


def _unit_section(unit: str, section: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for raw in unit.splitlines():
        line = raw.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key, []).extend(value.split())
    return out


def _executed_scripts(doc: dict[str, Any]) -> list[str]:
    """The scripts the boot runs, in order: runcmd, then bootstrap.sh's steps."""
    files = _write_files(doc)
    ran = [c[1] for c in doc["runcmd"] if c[0] == "bash"]
    assert ran == ["/usr/local/lib/runnerfleet/bootstrap.sh"]
    boot = files[ran[0]]
    [steps_line] = [x for x in boot.splitlines() if x.startswith("steps=")]
    steps = steps_line.split(":-", 1)[1].rstrip("}").split()
    return [*ran, *(f"/usr/local/lib/runnerfleet/{s}.sh" for s in steps)]


def test_agent_unit_has_no_ordering_cycle_with_cloud_final(
    rendered: tuple[str, dict[str, Any]],
) -> None:
    """runcmd runs inside cloud-final.service; a blocking start there of a unit ordered after
    cloud-final (directly) waits for itself. Read the unit and every script the boot runs."""
    _, doc = rendered
    files = _write_files(doc)
    unit = files["/etc/systemd/system/runnerfleet-agent.service"]
    ordering = _unit_section(unit, "Unit")
    after = ordering.get("After", []) + ordering.get("Requires", [])
    assert "cloud-final.service" not in after
    assert "cloud-init.target" not in after and "multi-user.target" not in after
    scripts = _executed_scripts(doc)
    assert scripts[-1].endswith("start-agent.sh"), "the agent starts last"
    starts = [
        line.strip()
        for path in scripts
        for line in files[path].splitlines()
        if "systemctl" in line and "runnerfleet-agent" in line
    ]
    assert starts, "the boot starts the agent"
    for line in starts:
        blocking = "--now" in line.split() or " start " in f" {line} "
        assert not blocking or "--no-block" in line, line
    assert "systemctl start --no-block runnerfleet-agent.service" in starts


def _boot_lib(tmp_path: Path, doc: dict[str, Any]) -> Path:
    lib = tmp_path / "lib"
    lib.mkdir()
    for path, content in _write_files(doc).items():
        if path.startswith("/usr/local/lib/runnerfleet/"):
            (lib / Path(path).name).write_text(content)
    return lib


def test_wrong_agent_digest_stops_the_boot_naming_both_digests(tmp_path: Path) -> None:
    """The install step against a tampered artifact, through bootstrap.sh as the boot runs it
    (with the log, host.env and venv paths redirected): the boot stops at install-agent, and
    /var/log/user-data.log (here: the redirected log) names the expected and actual digest."""
    artifact = tmp_path / "agent.tar.gz"
    artifact.write_bytes(b"the artifact as built")
    expected = hashlib.sha256(artifact.read_bytes()).hexdigest()
    artifact.write_bytes(b"the artifact as tampered with")
    actual = hashlib.sha256(artifact.read_bytes()).hexdigest()
    settings = _settings("static-persistent", agent_sha256=expected)
    doc = yaml.safe_load(render_user_data(settings))
    lib = _boot_lib(tmp_path, doc)
    (lib / "install-awscli.sh").write_text("echo 'install-awscli: (skipped in this test)'\n")
    (lib / "install-docker.sh").write_text("echo NOT-REACHED\n")
    host_env = tmp_path / "host.env"
    host_env.write_text(_write_files(doc)["/etc/runnerfleet/host.env"])
    log = tmp_path / "user-data.log"
    env = {
        "PATH": os.environ["PATH"],
        "RUNNERFLEET_LIB": str(lib),
        "RUNNERFLEET_LOG": str(log),
        "RUNNERFLEET_HOST_ENV": str(host_env),
        "RUNNERFLEET_VENV": str(tmp_path / "venv"),
        "AGENT_ARTIFACT": str(artifact),
    }
    result = subprocess.run(
        ["bash", str(lib / "bootstrap.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    text = log.read_text()
    assert result.returncode == 1, text
    assert f"expected sha256 {expected}, actual sha256 {actual}" in text
    assert "refusing to install the agent" in text
    assert "FAILED at step install-agent (exit 1)" in text
    assert "NOT-REACHED" not in text and not (tmp_path / "venv").exists()


def test_matching_agent_digest_passes_the_check(tmp_path: Path) -> None:
    artifact = tmp_path / "agent.tar.gz"
    artifact.write_bytes(b"not a tarball, but the digest matches")
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    doc = yaml.safe_load(render_user_data(_settings("static-persistent", agent_sha256=digest)))
    lib = _boot_lib(tmp_path, doc)
    host_env = tmp_path / "host.env"
    host_env.write_text(_write_files(doc)["/etc/runnerfleet/host.env"])
    log = tmp_path / "user-data.log"
    env = {
        "PATH": os.environ["PATH"],
        "RUNNERFLEET_LOG": str(log),
        "RUNNERFLEET_HOST_ENV": str(host_env),
        "RUNNERFLEET_VENV": str(tmp_path / "venv"),
        "AGENT_ARTIFACT": str(artifact),
    }
    result = subprocess.run(
        ["bash", str(lib / "install-agent.sh")], env=env, capture_output=True, timeout=120
    )
    assert result.returncode != 0  # tar refuses the non-tarball: after the digest check
    assert f"sha256 {digest} verified" in log.read_text()


def _fake_agent(venv: Path, name: str, calls: Path, exit_code: int = 0) -> None:
    """An installed agent entry point that records its arguments (and that it got host.env)."""
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / f"runnerfleet-agent-{name}"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "{name} $* name=$RUNNERFLEET_NAME" >>"{calls}"\n'
        f"exit {exit_code}\n"
    )
    script.chmod(0o755)


def _boot(tmp_path: Path, steps: str, **warm_launch: int) -> tuple[int, str, list[str]]:
    doc = yaml.safe_load(render_user_data(_settings("ephemeral-labels")))
    lib = _boot_lib(tmp_path, doc)
    for step in steps.split():
        (lib / f"{step}.sh").write_text(f"echo 'ran {step}' >>\"$CALLS\"\n")
    host_env = tmp_path / "host.env"
    host_env.write_text(_write_files(doc)["/etc/runnerfleet/host.env"])
    venv, calls, log = tmp_path / "venv", tmp_path / "calls", tmp_path / "user-data.log"
    calls.touch()
    _fake_agent(venv, "warm-launch", calls, warm_launch.get("exit_code", 0))
    _fake_agent(venv, "bootstrap-failed", calls)
    env = {
        "PATH": os.environ["PATH"],
        "RUNNERFLEET_LIB": str(lib),
        "RUNNERFLEET_LOG": str(log),
        "RUNNERFLEET_HOST_ENV": str(host_env),
        "RUNNERFLEET_VENV": str(venv),
        "RUNNERFLEET_STEPS": steps,
        "CALLS": str(calls),
    }
    result = subprocess.run(
        ["bash", str(lib / "bootstrap.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    return result.returncode, log.read_text(), calls.read_text().splitlines()


def test_boot_heartbeats_a_warm_launch_per_step_and_continues_it_only_when_done(
    tmp_path: Path,
) -> None:
    """bootstrap.sh, as the boot runs it: before each step the installed agent heartbeats the
    launch hook; after the last step (and only then) it completes it with CONTINUE, which in
    Warmed:Pending:Wait stops the instance into the warm pool (the registrar leaves that
    action to the host). Both run with host.env (the region and the fleet's name)."""
    code, log, calls = _boot(tmp_path, "install-docker start-agent")
    assert code == 0, log
    name = "name=rf"
    assert calls == [
        f"warm-launch heartbeat {name}",
        "ran install-docker",
        f"warm-launch heartbeat {name}",
        "ran start-agent",
        f"warm-launch continue {name}",
    ], log
    assert log.rstrip().endswith("done"), log


def test_a_refused_continue_fails_the_boot_and_is_reported(tmp_path: Path) -> None:
    """CONTINUE refused (the action expired or was already completed): the step
    complete-launch fails and the failure report runs (it abandons a pending action)."""
    code, log, calls = _boot(tmp_path, "start-agent", exit_code=3)
    assert code == 3, log
    assert "FAILED at step complete-launch (exit 3)" in log
    assert calls[-1] == "bootstrap-failed --step complete-launch name=rf", calls
    assert not log.rstrip().endswith("done")
