"""The sandbox's hosts boot as real hosts do (runnerfleet.sandboxrt.hosts / hostproc): from the
instance's own user data, the agent artifact is downloaded from the artifacts bucket with the
instance role's credentials, its SHA-256 checked, installed by the user data's
install-agent.sh under Python 3.10 (one venv per digest), and the unit's `runnerfleet-agent`
runs as a process with its credentials from the loopback IMDS; a terminated instance stops
it. A tampered artifact leaves the host failed, naming both digests, and starts no agent.

Waits are on the fleet's state changes (HostFleet.wait_for), never on sleeps.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hosts_support import OWNER, REPO

from runnerfleet import hostartifact
from runnerfleet.agent.userdata import artifacts_bucket_name, render_user_data, settings_from_config
from runnerfleet.controlplane.registrar import Registrar
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.sandboxrt.hosts import FleetFacts, HostFleet
from runnerfleet.sandboxrt.triggers import Clock

ACCOUNT = "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
         "Action": "sts:AssumeRole"}
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> hostartifact.Artifact:
    return hostartifact.ensure_artifact(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def venv_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv cache of this module's own, so the install from the artifact really runs."""
    return tmp_path_factory.mktemp("agent-venvs")


def _launch(
    aws: Callable[[str], Any], fleet: str, art: hostartifact.Artifact, body: bytes
) -> tuple[str, dict[str, str]]:
    """An artifacts bucket holding `body` under the artifact's key, and a runner instance
    whose user data names the artifact (key and digest) and whose profile has a role."""
    bucket = artifacts_bucket_name(fleet, ACCOUNT)
    s3, iam, ec2 = aws("s3"), aws("iam"), aws("ec2")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=art.key, Body=body)
    iam.create_role(RoleName=f"{fleet}-host", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.create_instance_profile(InstanceProfileName=f"{fleet}-host")
    iam.add_role_to_instance_profile(InstanceProfileName=f"{fleet}-host", RoleName=f"{fleet}-host")
    settings = settings_from_config(
        name=fleet, region="us-east-1", runner_version="2.329.0", labels=[], ephemeral=False,
        app_image="nginxdemos/hello:plain-text", account_id=ACCOUNT, agent_key=art.key,
        agent_sha256=art.sha256,
    )  # fmt: skip
    tags = {
        "Name": f"{fleet}-runner-01",
        "runnerfleet:fleet": fleet,
        "runnerfleet:role": "runner",
        "runnerfleet:pool": "static",
        "runnerfleet:runner-name": f"{fleet}-runner-01",
    }
    resp = ec2.run_instances(
        ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType="t3.medium",
        UserData=render_user_data(settings), IamInstanceProfile={"Name": f"{fleet}-host"},
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )  # fmt: skip
    return str(resp["Instances"][0]["InstanceId"]), tags


@pytest.fixture
def make_fleet(
    aws: Callable[[str], Any], moto_url: str, venv_root: Path, tmp_path: Path
) -> Iterator[Callable[[str], HostFleet]]:
    made: list[HostFleet] = []
    assumed: list[str] = []

    def assume(role_arn: str, session: str) -> dict[str, str]:
        assumed.append(role_arn)
        out = aws("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
        return {k: str(out[k]) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}

    def make(fleet: str) -> HostFleet:
        hosts = HostFleet(
            workdir=tmp_path / "hosts", region="us-east-1", endpoint=moto_url, admin=aws,
            assume=assume, clock=Clock(1.0), boot_seconds=0.0,
            jobs_file=tmp_path / "jobs.json", venv_root=venv_root,
        )  # fmt: skip
        hosts.facts = FleetFacts(name=fleet)
        made.append(hosts)
        return hosts

    yield make
    for hosts in made:
        hosts.stop_all()


def _processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is under `directory` (agent and runner)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(directory)):
            found.append(int(entry.name))
    return found


def test_sandbox_host_runs_the_artifact_under_python_3_10_with_imds_credentials(
    aws: Callable[[str], Any],
    make_registrar: Callable[..., Registrar],
    make_fleet: Callable[[str], HostFleet],
    emulator: GitHubEmulator,
    artifact: hostartifact.Artifact,
    venv_root: Path,
    fleet: str,
) -> None:
    iid, tags = _launch(aws, fleet, artifact, artifact.path.read_bytes())
    assert make_registrar(fleet).run_once().ok
    hosts = make_fleet(fleet)
    hosts.on_state(iid, "running", tags)
    state = hosts.wait_for(iid, ("online", "failed"), timeout=300)
    [row] = hosts.summary()
    host_dir = hosts.workdir / iid
    agent_log = (host_dir / "agent.log").read_text()
    assert state == "online", (row, agent_log, (host_dir / "user-data.log").read_text())
    assert row["runner"] == f"{fleet}-runner-01"

    boot_log = (host_dir / "user-data.log").read_text()
    assert f"install-agent: sha256 {artifact.sha256} verified for s3://" in boot_log
    assert "with Python 3.10." in boot_log  # the user data's own install-agent.sh ran
    # the agent says what it runs on; the process is the venv's console script under 3.10
    [venv] = [p for p in venv_root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert "on Python 3.10." in agent_log and f"({venv})" in agent_log
    pid = row["pid"]
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert str(venv / "bin" / "runnerfleet-agent").encode() in cmdline
    assert os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("python3.10")
    # credentials come from the IMDS (instance role), none sit in the agent's environment
    environ = dict(
        kv.split(b"=", 1) for kv in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if kv
    )
    assert b"AWS_ACCESS_KEY_ID" not in environ and b"AWS_SESSION_TOKEN" not in environ
    assert environ[b"AWS_EC2_METADATA_SERVICE_ENDPOINT"].endswith(iid.encode())
    imds = hosts.imds()
    assert imds.requests > 0
    inst = aws("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    agent_tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    # tagged by the agent itself with the role's credentials (it logs a state before tagging)
    assert agent_tags["runnerfleet:agent-state"] in ("registering", "online")
    online = [r.name for r in emulator.runners(OWNER, REPO) if r.status == "online"]
    assert f"{fleet}-runner-01" in online

    # the instance goes: the host stops, and neither the agent nor its runner is left
    assert _processes_in(host_dir)
    hosts.on_state(iid, "terminated", tags)
    assert hosts.wait_for(iid, ("stopped",), timeout=30) == "stopped"
    [proc] = [r.proc for r in hosts.hosts.values()]
    assert proc is not None and proc.wait(30)
    assert _processes_in(host_dir) == []


def test_tampered_artifact_leaves_the_host_failed_naming_both_digests(
    aws: Callable[[str], Any],
    make_fleet: Callable[[str], HostFleet],
    artifact: hostartifact.Artifact,
    fleet: str,
) -> None:
    tampered = artifact.path.read_bytes() + b"tampered"
    actual = hashlib.sha256(tampered).hexdigest()
    iid, tags = _launch(aws, fleet, artifact, tampered)
    hosts = make_fleet(fleet)
    hosts.on_state(iid, "running", tags)
    assert hosts.wait_for(iid, ("online", "failed"), timeout=120) == "failed"
    [row] = hosts.summary()
    expected = f"expected sha256 {artifact.sha256}, actual sha256 {actual}"
    assert expected in row["detail"], row
    boot_log = (hosts.workdir / iid / "user-data.log").read_text()
    assert expected in boot_log and "refusing to install the agent" in boot_log
    assert row["pid"] is None and not (hosts.workdir / iid / "agent.log").exists()
    assert not (hosts.workdir / iid / "agent.tar.gz").exists()
