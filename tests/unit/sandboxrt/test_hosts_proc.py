"""Pieces of the sandbox's host boot (runnerfleet.sandboxrt.hostproc): user data, host.env as
systemd reads it, the per-digest venv cache under concurrency, and the loopback IMDS as the
SDK's own credential provider reads it."""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.utils import InstanceMetadataFetcher

from runnerfleet.sandboxrt import hostproc

USER_DATA = """#cloud-config
write_files:
  - path: /etc/runnerfleet/host.env
    content: |
      # comment
      RUNNERFLEET_NAME='fleet-a'
      RUNNERFLEET_AGENT_KEY="agent/x.tar.gz"
      PLAIN=value
  - path: /usr/local/lib/runnerfleet/install-agent.sh
    content: |
      #!/usr/bin/env bash
      echo hi
"""


def test_user_data_decodes_as_ec2_returns_it() -> None:
    once = base64.b64encode(USER_DATA.encode()).decode()
    twice = base64.b64encode(once.encode()).decode()
    zipped = base64.b64encode(gzip.compress(USER_DATA.encode())).decode()
    assert hostproc.decode_user_data(once) == USER_DATA
    assert hostproc.decode_user_data(twice) == USER_DATA
    assert hostproc.decode_user_data(zipped) == USER_DATA
    with pytest.raises(hostproc.HostBootError, match="not a cloud-init document"):
        hostproc.decode_user_data(base64.b64encode(b"hello").decode())


def test_host_files_and_env_file_as_systemd_reads_it() -> None:
    files = hostproc.host_files(USER_DATA)
    assert set(files) == {hostproc.HOST_ENV, hostproc.INSTALL_AGENT}
    env = hostproc.parse_env_file(files[hostproc.HOST_ENV])
    assert env == {
        "RUNNERFLEET_NAME": "fleet-a",
        "RUNNERFLEET_AGENT_KEY": "agent/x.tar.gz",
        "PLAIN": "value",
    }


def _script(counter: Path, *, fail: bool = False) -> str:
    """A stand-in install-agent.sh: counts its runs, makes the venv dir (or fails)."""
    body = f'echo run >> "{counter}"\n'
    body += 'echo "install-agent: broken" >>"$RUNNERFLEET_LOG"; exit 3\n' if fail else ""
    body += 'mkdir -p "$RUNNERFLEET_VENV/bin"\n'
    return "#!/usr/bin/env bash\nset -e\n" + body


def test_venv_is_built_once_per_digest_by_concurrent_hosts(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    artifact = tmp_path / "agent.tar.gz"
    artifact.write_bytes(b"artifact")
    digest = hashlib.sha256(b"artifact").hexdigest()
    got: list[Path] = []
    errors: list[BaseException] = []

    def host(n: int) -> None:
        try:
            got.append(
                hostproc.agent_venv(
                    artifact,
                    digest,
                    install_script=_script(counter),
                    host_env=tmp_path / "host.env",
                    log=tmp_path / f"log{n}",
                    root=tmp_path / "cache",
                )
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=host, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(got)) == 1 and counter.read_text().count("run") == 1
    assert got[0].name.startswith(digest[:16])
    # another digest is another venv
    other = hostproc.agent_venv(
        artifact, "0" * 64, install_script=_script(counter), host_env=tmp_path / "host.env",
        log=tmp_path / "log", root=tmp_path / "cache",
    )  # fmt: skip
    assert other != got[0] and counter.read_text().count("run") == 2


def test_a_failed_install_leaves_no_venv_and_is_retried(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    artifact = tmp_path / "agent.tar.gz"
    artifact.write_bytes(b"a")
    kw = {"host_env": tmp_path / "host.env", "log": tmp_path / "log", "root": tmp_path / "c"}
    with pytest.raises(hostproc.HostBootError, match="exited 3: install-agent: broken"):
        hostproc.agent_venv(artifact, "1" * 64, install_script=_script(counter, fail=True), **kw)
    assert not [p for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")]
    venv = hostproc.agent_venv(artifact, "1" * 64, install_script=_script(counter), **kw)
    assert (venv / ".runnerfleet-complete").is_file()
    assert counter.read_text().count("run") == 2


def test_imds_serves_the_role_credentials_to_the_sdk_under_the_instance_path() -> None:
    issued: list[int] = []

    def creds() -> dict[str, str]:
        issued.append(1)
        n = len(issued)
        return {"AccessKeyId": f"ASIA{n}", "SecretAccessKey": "s", "SessionToken": f"t{n}"}

    imds = hostproc.HostImds()
    try:
        endpoint = imds.add("i-0abc", "fleet-host", creds)
        assert endpoint == f"{imds.url}/i-0abc"
        fetcher = InstanceMetadataFetcher(
            timeout=2, num_attempts=1, config={"ec2_metadata_service_endpoint": endpoint}
        )
        got = fetcher.retrieve_iam_role_credentials()
        assert got["role_name"] == "fleet-host"
        assert (got["access_key"], got["token"]) == ("ASIA1", "t1")
        expiry = datetime.strptime(got["expiry_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        left = (expiry - datetime.now(UTC)).total_seconds()
        assert hostproc.CREDENTIAL_SECONDS - 120 < left <= hostproc.CREDENTIAL_SECONDS
        # the same credentials until they are due for renewal (one AssumeRole, not one a call)
        assert fetcher.retrieve_iam_role_credentials()["access_key"] == "ASIA1"
        assert len(issued) == 1
        # another instance's path is not this one's; an unknown one has no metadata
        other = InstanceMetadataFetcher(
            timeout=2, num_attempts=1,
            config={"ec2_metadata_service_endpoint": f"{imds.url}/i-unknown"},
        )  # fmt: skip
        assert other.retrieve_iam_role_credentials() == {}
    finally:
        imds.close()


def test_imds_answers_the_agents_own_client_and_requires_a_session_token() -> None:
    import httpx

    from runnerfleet.agent.imds import ImdsClient

    imds = hostproc.HostImds()
    try:
        endpoint = imds.add("i-0abc", "r", dict)
        assert httpx.get(f"{endpoint}/latest/meta-data/instance-id").status_code == 401
        client = ImdsClient(endpoint)
        assert client.instance_id() == "i-0abc"
        assert client.spot_action() is None and client.lifecycle_state() is None
    finally:
        imds.close()
