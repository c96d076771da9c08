"""Every `$ runnerfleet ...` command in docs/operations.md runs against the sandbox.

The docs cannot drift from the CLI: the commands are extracted from the Markdown and run,
in document order, in one sandbox session in a fresh project folder.

Conventions (keep docs/operations.md to them):

- A command is a line `$ runnerfleet ...` inside a ```console fenced block (indented blocks
  in lists count). Other `$` lines (terraform, aws, openssl) are not runnerfleet commands
  and are not run.
- The environment has no AWS credentials (and IMDS lookups are off), so the CLI's automatic
  target is the sandbox, exactly as for a reader without an account. The first command,
  `runnerfleet init`, writes the config; before the next command the test starts the
  sandbox emulators, which stand in for the AWS account the reader already has.
- Standard input answers `y` to any confirmation, as the reader would.
- Exit code 0 is success; for `runnerfleet plan`, 3 (changes pending) is success too.
- Placeholders: an ALL-CAPS word (`VERSION_ID`, `LOCK_ID`) is replaced by a value taken
  from the JSON output of the closest earlier command that printed JSON (`--json`), by the
  extractor named in `PLACEHOLDERS`. A placeholder with no extractor fails the test.
- Setup hooks (`BEFORE`) create the situation a procedure is for:
  - before `runnerfleet state versions`, an accident: a state with every resource dropped
    is written as the newest version (as a careless `terraform state rm` would), so
    `VERSION_ID` (the newest version that is not the latest) is the last good state, and
    restoring it makes the following `plan` and `up` find nothing to change;
  - before `runnerfleet state lock`, a stale lock exactly as a killed `terraform apply`
    leaves it (a DynamoDB lock item and an S3 lockfile holding Terraform's lock JSON).
- If the sandbox is still running at the end (the doc's last command normally stops it),
  the test runs `runnerfleet down` outside the timed part.

The extraction and substitution are pure functions, tested first without the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
OPERATIONS = REPO / "docs" / "operations.md"
# A bound, not a speed target (speed is measured in benchmarks/): on a loaded 2-core machine
# one `up` (bootstrap, init, plan, apply, runtime start) took more than 300 s.
COMMAND_TIMEOUT_S = 1200

FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[A-Za-z0-9_-]*)\s*$")
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


# ---- extraction -------------------------------------------------------------------------
@dataclass(frozen=True)
class DocCommand:
    line: int  # 1-based line number in the Markdown file
    text: str  # the command without the leading "$ "

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)

    @property
    def subcommand(self) -> str:
        """`state restore`, `up`, `backend bootstrap`: the words before the first option."""
        words = []
        for w in self.argv[1:]:
            if w.startswith("-") or PLACEHOLDER.fullmatch(w):
                break
            words.append(w)
        return " ".join(words)

    @property
    def placeholders(self) -> list[str]:
        return [w for w in self.argv if PLACEHOLDER.fullmatch(w)]


def extract_commands(markdown: str) -> list[DocCommand]:
    """`$ runnerfleet ...` lines of ```console blocks, in order."""
    commands: list[DocCommand] = []
    in_console = False
    in_block = False
    for n, raw in enumerate(markdown.splitlines(), 1):
        fence = FENCE.match(raw)
        if fence:
            if in_block:
                in_block = in_console = False
            else:
                in_block = True
                in_console = fence["lang"] == "console"
            continue
        if in_console:
            line = raw.strip()
            if line.startswith("$ runnerfleet ") or line == "$ runnerfleet":
                commands.append(DocCommand(n, line[2:].strip()))
    if in_block:
        raise ValueError("unterminated code fence in the Markdown")
    return commands


# ---- placeholders -----------------------------------------------------------------------
def _version_id(out: dict[str, Any]) -> str:
    versions = out["versions"]
    older = [v for v in versions if not v.get("is_latest")]
    return str((older or versions)[0]["version_id"])


def _lock_id(out: dict[str, Any]) -> str:
    holder = out.get("dynamodb") or out.get("s3")
    if not holder:
        raise LookupError("no lock is held, so there is no LOCK_ID to fill in")
    return str(holder["id"])


PLACEHOLDERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "VERSION_ID": _version_id,  # from `state versions --json`
    "LOCK_ID": _lock_id,  # from `state lock --json`
}


def substitute(cmd: DocCommand, last_json: dict[str, Any] | None) -> list[str]:
    argv = cmd.argv
    for name in cmd.placeholders:
        if name not in PLACEHOLDERS:
            raise LookupError(f"line {cmd.line}: no extractor for placeholder {name}")
        if last_json is None:
            raise LookupError(f"line {cmd.line}: {name} needs an earlier command with --json")
        value = PLACEHOLDERS[name](last_json)
        argv = [value if w == name else w for w in argv]
    return argv


# ---- fast tests of the conventions (no sandbox) -------------------------------------------
SAMPLE = """\
Intro `runnerfleet up` in prose is not a command.

```console
$ runnerfleet init --name x
$ terraform init
```

1. Indented:

   ```console
   $ runnerfleet state versions --json
   ```

```bash
$ runnerfleet not-console
```

```console
$ runnerfleet state restore VERSION_ID
```
"""


def test_extract_commands_reads_console_blocks_only() -> None:
    cmds = extract_commands(SAMPLE)
    assert [c.text for c in cmds] == [
        "runnerfleet init --name x",
        "runnerfleet state versions --json",
        "runnerfleet state restore VERSION_ID",
    ]
    assert [c.subcommand for c in cmds] == ["init", "state versions", "state restore"]
    assert cmds[2].placeholders == ["VERSION_ID"]


def test_unterminated_fence_is_an_error() -> None:
    with pytest.raises(ValueError, match="unterminated"):
        extract_commands("```console\n$ runnerfleet up\n")


def test_substitution_takes_an_older_version_and_the_held_lock() -> None:
    versions = {
        "versions": [
            {"version_id": "v3", "is_latest": True},
            {"version_id": "v2", "is_latest": False},
            {"version_id": "v1", "is_latest": False},
        ]
    }
    restore = DocCommand(1, "runnerfleet state restore VERSION_ID")
    assert substitute(restore, versions) == ["runnerfleet", "state", "restore", "v2"]
    only = {"versions": [{"version_id": "v1", "is_latest": True}]}
    assert substitute(restore, only)[-1] == "v1"
    unlock = DocCommand(2, "runnerfleet state unlock LOCK_ID")
    held = {"held": True, "dynamodb": None, "s3": {"id": "abc"}}
    assert substitute(unlock, held)[-1] == "abc"
    with pytest.raises(LookupError, match="no lock is held"):
        substitute(unlock, {"held": False, "dynamodb": None, "s3": None})
    with pytest.raises(LookupError, match="no extractor"):
        substitute(DocCommand(3, "runnerfleet state restore SOME_THING"), versions)
    with pytest.raises(LookupError, match="earlier command with --json"):
        substitute(restore, None)


def test_operations_doc_covers_every_procedure() -> None:
    cmds = extract_commands(OPERATIONS.read_text(encoding="utf-8"))
    subs = [c.subcommand for c in cmds]
    for needed in (
        "init",
        "backend bootstrap",
        "up",
        "plan",
        "status",
        "state versions",
        "state restore",
        "state lock",
        "state unlock",
        "down",
    ):
        assert needed in subs, f"docs/operations.md shows no `runnerfleet {needed}` command"
    assert subs[0] == "init", "the doc starts by writing the config"
    assert subs[-1] == "down", "the doc ends by destroying the fleet (and the sandbox)"
    for c in cmds:
        for name in c.placeholders:
            assert name in PLACEHOLDERS, f"line {c.line}: unknown placeholder {name}"


# ---- the sandbox run --------------------------------------------------------------------
def _environment(project: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "RUNNERFLEET_")) and k not in ("TF_CLI_CONFIG_FILE",)
    }
    env.update(
        AWS_CONFIG_FILE=str(project / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(project / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",  # never probe 169.254.169.254
        # The boot model's simulated cloud-init (20 s by default) shortened: this test checks
        # commands and their results, not how long a host takes to boot.
        RUNNERFLEET_SANDBOX_BOOT_SECONDS="2",
        NO_COLOR="1",
        COLUMNS="200",
    )
    return env


def _cli() -> str:
    exe = shutil.which("runnerfleet")
    if exe is None:
        pytest.fail("the `runnerfleet` console script is not on PATH; run `pip install -e .`")
    return exe


def _start_sandbox(project: Path) -> None:
    from runnerfleet import config
    from runnerfleet.sandbox import Sandbox

    cfg = config.load(project / config.DEFAULT_CONFIG_FILE, environ={})
    Sandbox(project / ".runnerfleet", region=cfg.aws.region).start()


def _sandbox_running(project: Path) -> bool:
    from runnerfleet.sandbox import Sandbox

    return Sandbox(project / ".runnerfleet").running()


def _state_clients(project: Path) -> tuple[Any, Any, str, str, str]:
    from runnerfleet import config
    from runnerfleet.sandbox import SANDBOX_ACCOUNT_ID, Sandbox

    cfg = config.load(project / config.DEFAULT_CONFIG_FILE, environ={})
    box = Sandbox(project / ".runnerfleet", region=cfg.aws.region)
    bucket = cfg.state_bucket(SANDBOX_ACCOUNT_ID)
    return box.client("s3"), box.client("dynamodb"), bucket, cfg.backend.key, cfg.lock_table()


def _plant_stale_lock(project: Path) -> str:
    """Leave the lock a killed `terraform apply` leaves: DynamoDB item and S3 lockfile."""
    s3, ddb, bucket, key, table = _state_clients(project)
    lock_id = str(uuid.uuid4())
    info = json.dumps(
        {
            "ID": lock_id,
            "Operation": "OperationTypeApply",
            "Info": "",
            "Who": "runner@killed-deploy-job",
            "Version": "1.11.4",
            "Created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "Path": f"{bucket}/{key}",
        }
    )
    ddb.put_item(TableName=table, Item={"LockID": {"S": f"{bucket}/{key}"}, "Info": {"S": info}})
    s3.put_object(Bucket=bucket, Key=f"{key}.tflock", Body=info.encode())
    return lock_id


def _lock_gone(project: Path) -> bool:
    s3, ddb, bucket, key, table = _state_clients(project)
    item = ddb.get_item(TableName=table, Key={"LockID": {"S": f"{bucket}/{key}"}}).get("Item")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{key}.tflock").get("KeyCount", 0)
    return item is None and listed == 0


def _write_bad_state(project: Path) -> str:
    """Write the current state with every resource dropped as a new (latest) version."""
    s3, _ddb, bucket, key, _table = _state_clients(project)
    state = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    state["serial"] = int(state.get("serial", 0)) + 1
    state["resources"] = []
    return str(s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(state).encode())["VersionId"])


BEFORE: dict[str, Callable[[Path], object]] = {
    "state versions": _write_bad_state,
    "state lock": _plant_stale_lock,
}


@dataclass
class Ran:
    cmd: DocCommand
    argv: list[str]
    returncode: int
    seconds: float
    stdout: str
    stderr: str


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    proj = tmp_path / "fleet"
    proj.mkdir()
    yield proj
    # Clean up whatever the doc left running (not part of the timed run).
    if (proj / ".runnerfleet").exists() and _sandbox_running(proj):
        subprocess.run(
            [_cli(), "down", "--yes"],
            cwd=proj,
            env=_environment(proj),
            input=b"y\n",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        from runnerfleet.sandbox import Sandbox

        Sandbox(proj / ".runnerfleet").stop()


@pytest.mark.terraform
@pytest.mark.emulator
def test_every_operations_command_runs_in_the_sandbox(project: Path) -> None:
    cmds = extract_commands(OPERATIONS.read_text(encoding="utf-8"))
    assert cmds, "docs/operations.md shows no runnerfleet command"
    env = _environment(project)
    exe = _cli()
    ran: list[Ran] = []
    last_json: dict[str, Any] | None = None
    started = time.monotonic()

    def log() -> str:
        lines = []
        for r in ran:
            lines.append(
                f"  line {r.cmd.line}: {' '.join(r.argv)} -> {r.returncode} in {r.seconds:.1f}s"
            )
            if r.cmd.subcommand == "plan":  # what the plan would change, for the reader
                lines += [f"      {x.strip()}" for x in r.stdout.splitlines() if x.strip()][:12]
        return "\n".join(lines)

    for cmd in cmds:
        if ran and not _sandbox_running(project) and cmd.subcommand != "init":
            _start_sandbox(project)
        hook = BEFORE.get(cmd.subcommand)
        if hook is not None:
            hook(project)
        argv = substitute(cmd, last_json)
        t0 = time.monotonic()
        # Output goes to files, not pipes: the sandbox leaves background processes (the
        # emulators, simulated hosts) that would hold a pipe open after the command exits.
        out_path, err_path = project.parent / "cmd.out", project.parent / "cmd.err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            try:
                proc = subprocess.run(
                    [exe, *argv[1:]],
                    cwd=project,
                    env=env,
                    input=b"y\n",
                    stdout=out,
                    stderr=err,
                    timeout=COMMAND_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                tail = err_path.read_text(errors="replace")[-3000:]
                pytest.fail(
                    f"docs/operations.md line {cmd.line}: `{' '.join(argv)}` did not finish "
                    f"in {COMMAND_TIMEOUT_S}s\n--- stderr (tail)\n{tail}\n--- so far\n{log()}"
                )
        stdout = out_path.read_text(errors="replace")
        stderr = err_path.read_text(errors="replace")
        ran.append(Ran(cmd, argv, proc.returncode, time.monotonic() - t0, stdout, stderr))
        ok = {0, 3} if cmd.subcommand == "plan" else {0}
        assert proc.returncode in ok, (
            f"docs/operations.md line {cmd.line}: `{' '.join(argv)}` exited "
            f"{proc.returncode}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n"
            f"{stderr[-3000:]}\n--- so far\n{log()}"
        )
        if "--json" in argv:
            last_json = json.loads(stdout)
        if cmd.subcommand == "state unlock":
            assert _lock_gone(project), "`state unlock` left the planted lock behind"

    elapsed = time.monotonic() - started
    print(f"docs/operations.md: {len(ran)} commands in {elapsed:.0f}s\n{log()}")
    assert not _sandbox_running(project), "the doc ends with `runnerfleet down`, which stops it"
