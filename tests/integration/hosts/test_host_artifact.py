"""The host artifact as a host uses it: built by runnerfleet.hostartifact, installed by the
rendered user data's own install-agent.sh with Python 3.10 into an empty venv with
`pip --no-index`, and its entry point run as the systemd unit runs it (environment from the
rendered host.env) against moto, the GitHub emulator and a loopback IMDSv2, through a full
ephemeral job. Also: the artifact holds only the agent and its pinned wheels, is reproducible,
runs the agent's unit tests under 3.10, and a failed bootstrap step is reported through the
installed `runnerfleet-agent-bootstrap-failed` (the host is tagged, the step is in the log).

Python 3.10 comes from runnerfleet.pyruntime.find_python (pyenv); missing, the tests fail and
say how to install it. The stand-in runner is the actions runner's stand-in (not part of the
artifact) and runs under the suite's interpreter (the agent gets no PYTHONPATH: it imports
only what the artifact installed). As root (CI), the agent also runs the stand-in as the
`runner` user in the `docker` group, both created as the user data creates them.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hosts_support import OWNER, REPO, FakeImds, launch_runners, make_asg

from runnerfleet import hostartifact
from runnerfleet.agent import standin
from runnerfleet.agent.userdata import render_user_data, settings_from_config
from runnerfleet.controlplane.registrar import Registrar
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.pyruntime import find_python, venv

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> hostartifact.Artifact:
    return hostartifact.ensure_artifact(tmp_path_factory.mktemp("build"))


def _user_data(fleet: str, art: hostartifact.Artifact, *, ephemeral: bool) -> dict[str, str]:
    settings = settings_from_config(
        name=fleet,
        region="us-east-1",
        runner_version="2.329.0",
        labels=[],
        ephemeral=ephemeral,
        app_image="nginxdemos/hello:plain-text",
        account_id="123456789012",
        agent_key=art.key,
        agent_sha256=art.sha256,
    )
    doc = yaml.safe_load(render_user_data(settings))
    return {f["path"]: f["content"] for f in doc["write_files"]}


def _host_env(text: str) -> dict[str, str]:
    """host.env as systemd's EnvironmentFile reads it (every value single-quoted)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {
        k.strip(): v.strip().removeprefix("'").removesuffix("'")
        for k, v in pairs
        if not k.lstrip().startswith("#")
    }


@pytest.fixture(scope="module")
def installed(
    artifact: hostartifact.Artifact, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The artifact installed by the rendered install-agent.sh, as on a host."""
    base = tmp_path_factory.mktemp("host")
    files = _user_data("rfinst", artifact, ephemeral=True)
    lib = base / "lib"
    lib.mkdir()
    for path, content in files.items():
        if path.startswith("/usr/local/lib/runnerfleet/"):
            (lib / Path(path).name).write_text(content)
    host_env = base / "host.env"
    host_env.write_text(files["/etc/runnerfleet/host.env"])
    log = base / "user-data.log"
    env = {
        "PATH": os.environ["PATH"],
        "RUNNERFLEET_HOST_ENV": str(host_env),
        "RUNNERFLEET_LOG": str(log),
        "RUNNERFLEET_VENV": str(base / "venv"),
        "RUNNERFLEET_PYTHON": str(find_python("3.10")),
        "AGENT_ARTIFACT": str(artifact.path),
        # no index at all: a pip that tried one would fail here
        "PIP_INDEX_URL": "http://127.0.0.1:9/nowhere",
        "PIP_NO_INDEX": "1",
    }
    result = subprocess.run(
        ["bash", str(lib / "install-agent.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    text = log.read_text()
    assert result.returncode == 0, text + result.stderr
    return {"base": base, "lib": lib, "venv": base / "venv", "log": text, "host_env": host_env}


def test_artifact_holds_only_the_agent_and_its_pinned_wheels(
    artifact: hostartifact.Artifact, tmp_path: Path
) -> None:
    with tarfile.open(artifact.path) as tar:
        names = sorted(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        tar.extractall(tmp_path, filter="data")
    dists = {n.split("/")[1].split("-")[0].lower() for n in names if n.endswith(".whl")}
    assert dists == {
        "runnerfleet_agent", "boto3", "botocore", "jmespath", "python_dateutil", "s3transfer",
        "six", "urllib3",
    }  # fmt: skip  # not moto, typer, rich, pydantic, httpx, PyJWT
    assert manifest["requirements"] == list(hostartifact.REQUIREMENTS)
    assert manifest["python"] == ">=3.10"
    assert {w["file"] for w in manifest["wheels"]} == {n for n in names if n.endswith(".whl")}
    [wheel] = (tmp_path / "wheels").glob("runnerfleet_agent-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        modules = sorted(n for n in zf.namelist() if n.endswith(".py"))
        entry_points = zf.read(f"runnerfleet_agent-{artifact.version}.dist-info/entry_points.txt")
    assert modules == sorted(f"runnerfleet/{m}" for m in hostartifact.AGENT_MODULES)
    assert b"runnerfleet-agent = runnerfleet.agent.__main__:main" in entry_points
    assert artifact.key == f"agent/{artifact.path.name}" and artifact.sha256[:16] in artifact.key


def test_artifact_is_reproducible(artifact: hostartifact.Artifact, tmp_path: Path) -> None:
    again = hostartifact.build_artifact(tmp_path)
    assert again.sha256 == artifact.sha256
    assert again.path.read_bytes() == artifact.path.read_bytes()


def test_installed_with_no_index_under_python_3_10(installed: dict[str, Any]) -> None:
    assert "install-agent: sha256" in installed["log"] and "verified" in installed["log"]
    assert "with Python 3.10." in installed["log"]
    python = installed["venv"] / "bin" / "python"
    # the whole import closure of the agent resolves from the artifact alone under 3.10
    probe = (
        "import sys, runnerfleet.agent.__main__, runnerfleet.agent.failure; "
        "print(sys.version_info[:2] == (3, 10)); "
        "print(sorted(m for m in sys.modules if m.startswith('runnerfleet')))"
    )
    out = subprocess.run(
        [str(python), "-I", "-c", probe], capture_output=True, text=True, timeout=120, check=True
    ).stdout.splitlines()
    assert out[0] == "True"
    loaded = {m.removeprefix("runnerfleet.").replace(".", "/") for m in eval(out[1])}  # noqa: S307
    shipped = {m.removesuffix(".py").removesuffix("/__init__") for m in hostartifact.AGENT_MODULES}
    assert loaded - {"runnerfleet"} <= shipped | {"agent"}
    assert (installed["venv"] / "bin" / "runnerfleet-agent").is_file()
    assert (installed["venv"] / "bin" / "runnerfleet-agent-bootstrap-failed").is_file()


def test_agent_unit_tests_pass_under_python_3_10(installed: dict[str, Any]) -> None:
    """tests/unit/agent under Python 3.10 with only the installed artifact (plus pytest)."""
    runner = venv("3.10", ["pytest>=8,<9"])
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run(
        [str(installed["venv"] / "bin" / "python"), "-c", purelib],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    result = subprocess.run(
        [
            str(runner), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
            "-o", "timeout=", "-W", "ignore::pytest.PytestConfigWarning",
            "--noconftest", "--rootdir", str(ROOT / "tests" / "unit" / "agent"),
            str(ROOT / "tests" / "unit" / "agent"),
        ],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": site},
        cwd=ROOT / "tests" / "unit" / "agent",
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "error" not in result.stdout.lower()


class _Lines:
    """A child's stderr read line by line; `wait_for(text)` waits on an event, not a sleep."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._done = False
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        with self._cond:
            self._cond.wait_for(
                lambda: self._done or any(text in x for x in self.lines), timeout=timeout
            )
            return any(text in x for x in self.lines)


@pytest.fixture
def imds_for() -> Iterator[Callable[[str], FakeImds]]:
    made: list[FakeImds] = []

    def make(instance_id: str) -> FakeImds:
        made.append(FakeImds(instance_id))
        return made[-1]

    yield make
    for imds in made:
        imds.close()


def _agent_env(
    installed: dict[str, Any],
    host_env: str,
    moto_url: str,
    imds: FakeImds,
    state: Path,
    *,
    runner_dir: Path | None = None,
    as_runner_user: bool = False,
) -> dict[str, str]:
    """The unit's environment (host.env) plus the emulators. No PYTHONPATH: the agent imports
    only what the artifact installed; the stand-in gets the source tree in its own wrapper."""
    if runner_dir is None:
        runner_dir = state / "actions-runner"
        standin.install(runner_dir, pythonpath=str(ROOT / "src"))
    env = {
        **_host_env(host_env),
        "PATH": os.environ["PATH"],
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
        "RUNNERFLEET_STATE_DIR": str(state),
        "RUNNERFLEET_RUNNER_DIR": str(runner_dir),
        "RUNNERFLEET_POLL_INTERVAL": "0.2",
    }
    if not as_runner_user:
        env["RUNNERFLEET_RUNNER_USER"] = ""  # the agent's own user (the test's)
    return env


def test_installed_agent_runs_a_full_ephemeral_job(
    aws: Callable[[str], Any],
    moto_url: str,
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    installed: dict[str, Any],
    artifact: hostartifact.Artifact,
    fleet: str,
    imds_for: Callable[[str], FakeImds],
    tmp_path: Path,
) -> None:
    ec2, ssm, autoscaling = aws("ec2"), aws("ssm"), aws("autoscaling")
    group, iid = make_asg(aws, fleet, min_size=1, desired=1)
    assert make_registrar(fleet, ephemeral=True).run_once().ok
    files = _user_data(fleet, artifact, ephemeral=True)
    env = _agent_env(
        installed, files["/etc/runnerfleet/host.env"], moto_url, imds_for(iid), tmp_path
    )
    agent = subprocess.Popen(
        [str(installed["venv"] / "bin" / "runnerfleet-agent")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _Lines(agent.stderr)
        assert lines.wait_for("state online", timeout=120), "\n".join(lines.lines)
        job = emulator.enqueue_job(OWNER, REPO, ["self-hosted", "linux"])
        assert agent.wait(timeout=120) == 0, "\n".join(lines.lines)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(timeout=30)
    log = "\n".join(lines.lines)
    assert emulator.job(job)["conclusion"] == "success"
    assert "state done" in log and "keeping desired capacity" in log  # the group is at min
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] in ("shutting-down", "terminated")
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    assert groups["AutoScalingGroups"][0]["DesiredCapacity"] == 1
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=f"/{fleet}/runners/{iid}")
    reg = json.loads((tmp_path / "agent-state.json").read_text())
    assert reg["kind"] == "jit"  # a JIT registration was consumed, never logged
    assert "jitconfig" not in log.lower() or "***" in log


def test_failed_step_is_reported_through_the_installed_agent(
    aws: Callable[[str], Any],
    moto_url: str,
    installed: dict[str, Any],
    fleet: str,
    imds_for: Callable[[str], FakeImds],
    tmp_path: Path,
) -> None:
    """bootstrap.sh with a step that fails: the boot stops there, the log names the step, and
    the installed runnerfleet-agent-bootstrap-failed tags the (static) host for the reconciler."""
    ec2 = aws("ec2")
    [iid] = launch_runners(ec2, fleet, 1)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "bootstrap.sh").write_text((installed["lib"] / "bootstrap.sh").read_text())
    failing = "echo 'E: Unable to locate package docker-ce' >&2\nexit 100\n"
    (lib / "install-docker.sh").write_text(failing)
    (lib / "start-agent.sh").write_text("echo NOT-REACHED\n")
    log = tmp_path / "user-data.log"
    env = {
        "PATH": os.environ["PATH"],
        "RUNNERFLEET_LIB": str(lib),
        "RUNNERFLEET_LOG": str(log),
        "RUNNERFLEET_VENV": str(installed["venv"]),
        "RUNNERFLEET_HOST_ENV": str(installed["host_env"]),
        "RUNNERFLEET_STEPS": "install-docker start-agent",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds_for(iid).url,
    }
    result = subprocess.run(
        ["bash", str(lib / "bootstrap.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    text = log.read_text()
    assert result.returncode == 100, text
    assert "FAILED at step install-docker (exit 100)" in text
    assert f"bootstrap-failed: {iid}: tagged: bootstrap failed at step install-docker" in text
    assert "NOT-REACHED" not in text
    tags = {
        t["Key"]: t["Value"]
        for t in ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
            "Tags"
        ]
    }
    assert tags["runnerfleet:agent-state"] == "failed"
    assert tags["runnerfleet:agent-detail"] == "bootstrap failed at step install-docker"


# ---- the runner user, started the way a host starts it ---------------------------------------
RUNNER, DOCKER = "runner", "docker"


def _have(kind: str, name: str) -> bool:
    return subprocess.run(["getent", kind, name], capture_output=True, check=False).returncode == 0


def _member(user: str, group: str) -> bool:
    return (
        group
        in subprocess.run(
            ["id", "-Gn", user], capture_output=True, text=True, check=True
        ).stdout.split()
    )


@pytest.fixture
def runner_account(artifact: hostartifact.Artifact) -> Iterator[dict[str, str]]:
    """The `runner` user as the user data's `users:` entry makes it, the `docker` group (the
    docker-ce package makes it) and the membership install-docker.sh's own `usermod` line
    gives. What existed before is kept; what this fixture made is removed afterwards."""
    if os.geteuid() != 0:
        pytest.fail("this test creates the runner user and docker group: run it as root (CI does)")
    doc = yaml.safe_load(render_user_data(settings_from_config(
        name="rfuser", region="us-east-1", runner_version="2.329.0", labels=[], ephemeral=True,
        app_image="nginxdemos/hello:plain-text", agent_key=artifact.key,
        agent_sha256=artifact.sha256,
    )))  # fmt: skip
    [entry] = [u for u in doc["users"] if isinstance(u, dict) and u["name"] == RUNNER]
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    [usermod] = [
        line.strip()
        for line in files["/usr/local/lib/runnerfleet/install-docker.sh"].splitlines()
        if line.strip().startswith("usermod ")
    ]
    made_group = not _have("group", DOCKER)
    made_user = not _have("passwd", RUNNER)
    was_member = not made_group and not made_user and _member(RUNNER, DOCKER)
    if made_group:
        subprocess.run(["groupadd", "--system", DOCKER], check=True, timeout=60)
    try:
        if made_user:
            subprocess.run(
                ["useradd", "--create-home", "--home-dir", entry["homedir"], "--shell",
                 entry["shell"], "--comment", entry["gecos"], RUNNER],
                check=True, timeout=60,
            )  # fmt: skip
        try:
            subprocess.run(usermod.split(), check=True, timeout=60)  # usermod -aG docker runner
            yield {"home": entry["homedir"] if made_user else "", "usermod": usermod}
        finally:
            if made_user:
                subprocess.run(["userdel", "--remove", RUNNER], check=False, timeout=60)
            elif not was_member:
                subprocess.run(["gpasswd", "-d", RUNNER, DOCKER], check=False, timeout=60)
    finally:
        if made_group:
            subprocess.run(["groupdel", DOCKER], check=False, timeout=60)


def _standin_site(base: Path) -> tuple[str, str]:
    """(interpreter, PYTHONPATH) for the stand-in runner that the runner user can use: the
    suite's interpreter, or a system one of the same version when the suite's lives where
    another user cannot go (pyenv under /root); runnerfleet's source and the stand-in's
    third-party closure (httpx and what it requires) copied into a world-readable folder."""
    import importlib.metadata as md
    import shutil
    import sys

    from packaging.requirements import Requirement

    site = base / "site"
    site.mkdir(parents=True)
    shutil.copytree(ROOT / "src" / "runnerfleet", site / "runnerfleet")
    todo, seen = ["httpx"], set()
    while todo:
        dist = md.distribution(todo.pop())
        name = dist.metadata["Name"].lower()
        if name in seen:
            continue
        seen.add(name)
        for req in map(Requirement, dist.requires or []):
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
        tops = {
            f.parts[0]
            for f in dist.files or []
            if f.parts[0] != ".." and ".dist-info" not in f.parts[0]
        }
        for top in tops:
            src = Path(str(dist.locate_file(top)))
            dest = site / top
            if src.is_dir() and not dest.exists():
                shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.is_file():
                shutil.copy2(src, dest)
    for path in [base, *base.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    import pwd

    account = pwd.getpwnam(RUNNER)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    candidates = [sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"]
    for exe in candidates:
        try:
            probe = subprocess.run(
                [exe, "-I", "-c", "import ssl"],
                user=account.pw_uid, group=account.pw_gid, extra_groups=[], capture_output=True,
                check=False, timeout=60,
            )  # fmt: skip  # as the agent's launcher switches user
        except OSError:  # not there, or not executable by the runner user
            continue
        if probe.returncode == 0:
            return exe, str(site)
    pytest.fail(f"no {version} the runner user can execute (tried {candidates})")


def test_installed_agent_runs_the_runner_as_runner_with_docker_and_home(
    aws: Callable[[str], Any],
    moto_url: str,
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    installed: dict[str, Any],
    artifact: hostartifact.Artifact,
    fleet: str,
    imds_for: Callable[[str], FakeImds],
    runner_account: dict[str, str],
    tmp_path: Path,
) -> None:
    """The installed runnerfleet-agent started as the unit starts it (as root, host.env as its
    environment, the default runner user): the stand-in runner it starts sees the docker group
    among its groups, HOME and USER of the runner user, and runs a job."""
    import pwd
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="rf-runner-"))  # tmp_path's parents are 0700
    try:
        base.chmod(0o755)
        python, path = _standin_site(base / "py")
        runner_dir = base / "actions-runner"
        standin.install(runner_dir, python=python, pythonpath=path)
        account = pwd.getpwnam(RUNNER)
        os.chown(runner_dir, account.pw_uid, account.pw_gid)  # install-runner.sh's chown
        _group, iid = make_asg(aws, fleet, min_size=1, desired=1)
        assert make_registrar(fleet, ephemeral=True).run_once().ok
        files = _user_data(fleet, artifact, ephemeral=True)
        env = _agent_env(
            installed, files["/etc/runnerfleet/host.env"], moto_url, imds_for(iid), tmp_path,
            runner_dir=runner_dir, as_runner_user=True,
        )  # fmt: skip
        assert "RUNNERFLEET_RUNNER_USER" not in env  # the agent's default: runner
        agent = subprocess.Popen(
            [str(installed["venv"] / "bin" / "runnerfleet-agent")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            lines = _Lines(agent.stderr)
            assert lines.wait_for("state online", timeout=120), "\n".join(lines.lines)
            job = emulator.enqueue_job(OWNER, REPO, ["self-hosted", "linux"])
            assert agent.wait(timeout=120) == 0, "\n".join(lines.lines)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait(timeout=30)
        assert emulator.job(job)["conclusion"] == "success"
        diag = "\n".join(p.read_text() for p in sorted((runner_dir / "_diag").glob("Runner_*")))
        [seen] = [
            line.split("running as ", 1)[1] for line in diag.splitlines() if "running as" in line
        ]
        fields = dict(item.split("=", 1) for item in seen.split())
        assert fields["user"] == RUNNER and fields["uid"] == str(account.pw_uid), seen
        assert DOCKER in fields["groups"].split(","), seen
        assert "root" not in fields["groups"].split(","), seen
        assert fields["HOME"] == account.pw_dir and fields["USER"] == RUNNER, seen
        if runner_account["home"]:
            assert fields["HOME"] == runner_account["home"] == "/home/runner"
        assert (runner_dir / "_diag").stat().st_uid == account.pw_uid  # the runner's files
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
