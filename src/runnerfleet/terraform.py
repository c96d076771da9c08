"""Subprocess wrapper around terraform or OpenTofu: init, plan, show, apply, destroy, output.

It finds the binary and checks its version, writes its own CLI config (a provider filesystem
mirror when one is available, the public registry otherwise), runs every command with
TF_IN_AUTOMATION=1 and TF_INPUT=0, streams output lines (redacted) to a callback, and turns a
failure into a TerraformError that carries the tail of the output (including who holds a lock).

Process handling (so that a killed CLI leaves no half-written state and no provider behind):
terraform runs in its own process group and session, writing to log files (not pipes, which
would kill it with SIGPIPE once this process is gone) that are tailed here. SIGINT/SIGTERM
are forwarded to its group and terraform is waited for, so it stops cleanly and writes its
state. On Linux terraform also gets SIGTERM when this process dies, even by SIGKILL
(PR_SET_PDEATHSIG), and stops the same way. Its process group id is recorded in a pid file;
the next run kills a group still alive from an earlier run (terraform or its providers).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runnerfleet.ui import redact

MIN_VERSION = (1, 10, 0)
MIRROR_ENV = ("RUNNERFLEET_PROVIDER_MIRROR", "TF_PROVIDER_MIRROR")
BINARY_ENV = "RUNNERFLEET_TF_BINARY"
# Where provider mirrors are commonly laid out; searched before a bounded filesystem scan.
_MIRROR_GLOBS = (
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
    "/opt/*/registry.terraform.io/..",
    "/opt/*/*/registry.terraform.io/..",
)

LineSink = Callable[[str], None]

# Lines worth showing while terraform works (the rest is kept for error messages).
_PROGRESS = re.compile(
    r"(: (Creating|Creation complete|Destroying|Destruction complete|Modifying|"
    r"Modifications complete|Still \w+ing)|^(Apply|Destroy) complete|^Plan: |^No changes|"
    r"^Warning:|^Error:|Terraform has been successfully initialized|Acquiring state lock)"
)


def is_progress_line(line: str) -> bool:
    """True for the lines a person wants to see while terraform works."""
    return bool(_PROGRESS.search(line.strip()))


class TerraformInterrupted(Exception):
    """A terraform command was stopped by SIGINT/SIGTERM (forwarded; it wrote its state)."""

    def __init__(self, command: str, signum: int):
        self.signum = signum
        super().__init__(
            f"interrupted ({signal.Signals(signum).name}) during `terraform {command}`: "
            "terraform was stopped cleanly and wrote what it had done to the state; run the "
            "command again to continue"
        )


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child
    """In the child before exec: SIGTERM when the parent dies (Linux PR_SET_PDEATHSIG), and
    SIGINT/SIGTERM at their defaults: a CLI started with them ignored (`&` in a script, nohup)
    would hand that on, and terraform could then not be stopped cleanly by the forwarded signal."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)


def group_members(pgid: int) -> list[int]:
    """Pids of live processes in process group `pgid` (from /proc; [] elsewhere)."""
    members = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[-1].split()
        # after the command: state, ppid, pgrp, ...; zombies are gone already
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            members.append(int(Path(stat).parent.name))
    return members


def _program(pid: int) -> str:
    """The file name of the program a process runs (argv[0]), '' when it is gone."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return ""
    return Path(argv0.decode(errors="replace")).name


def stop_group(pgid: int, grace_s: float = 60.0) -> list[int]:
    """SIGTERM a process group, wait up to `grace_s` for it to go, then SIGKILL what is left."""
    members = group_members(pgid)
    if not members:
        return []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if group_members(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    return members


def kill_stale_processes(pid_file: Path, report: LineSink | None = None) -> list[int]:
    """Stop terraform/provider processes an earlier (killed) run left in its process group."""
    try:
        pgid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    members = [p for p in group_members(pgid) if _program(p).startswith(("terraform", "tofu"))]
    stopped: list[int] = []
    if members and pgid != os.getpgid(0):
        if report is not None:
            report(f"stopping {len(members)} terraform process(es) left by an earlier run "
                   f"(process group {pgid})")  # fmt: skip
        stopped = stop_group(pgid, grace_s=30.0)
    with contextlib.suppress(OSError):
        pid_file.unlink()
    return stopped


class TerraformError(Exception):
    """A terraform command failed; `output` holds its (redacted) last lines."""

    def __init__(self, message: str, output: str = "", returncode: int = 1):
        self.output = output
        self.returncode = returncode
        super().__init__(message + (f"\n{output}" if output else ""))

    @property
    def lock_holder(self) -> dict[str, str] | None:
        """The lock info terraform printed when it could not acquire the state lock."""
        if "Error acquiring the state lock" not in self.output:
            return None
        info: dict[str, str] = {}
        for key in ("ID", "Path", "Operation", "Who", "Version", "Created"):
            m = re.search(rf"^\s*{key}:\s*(.+)$", self.output, re.M)
            if m:
                info[key] = m.group(1).strip()
        return info


@dataclass(frozen=True)
class Binary:
    path: str
    flavour: str  # "terraform" or "tofu"
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def _parse_version(text: str) -> tuple[int, int, int]:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise TerraformError(f"could not read a version from {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def find_binary(environ: Mapping[str, str] | None = None) -> Binary:
    """Find terraform (preferred) or tofu and check it is at least 1.10."""
    environ = os.environ if environ is None else environ
    candidates = [environ[BINARY_ENV]] if environ.get(BINARY_ENV) else ["terraform", "tofu"]
    for cand in candidates:
        path = shutil.which(cand)
        if not path:
            continue
        proc = subprocess.run(
            [path, "version", "-json"], capture_output=True, text=True, timeout=60, check=False
        )
        try:
            version = _parse_version(json.loads(proc.stdout)["terraform_version"])
        except (ValueError, KeyError):
            version = _parse_version(proc.stdout or proc.stderr)
        flavour = "tofu" if "tofu" in Path(path).name else "terraform"
        if version < MIN_VERSION:
            raise TerraformError(
                f"{path} is version {'.'.join(map(str, version))}; runnerfleet needs terraform "
                ">= 1.10 (or OpenTofu >= 1.10). Install a newer one, or point "
                f"{BINARY_ENV} at it."
            )
        return Binary(path, flavour, version)
    raise TerraformError(
        "terraform was not found on PATH. Install terraform >= 1.10 "
        "(https://developer.hashicorp.com/terraform/install) or OpenTofu >= 1.10, "
        f"or set {BINARY_ENV} to its path."
    )


def _is_mirror(path: Path) -> bool:
    return (path / "registry.terraform.io").is_dir()


def discover_mirror(environ: Mapping[str, str] | None = None, scan: bool = True) -> Path | None:
    """A provider filesystem mirror: named by env, found in a usual place, or by a bounded scan.

    The mirror is the folder that contains `registry.terraform.io/`.
    """
    environ = os.environ if environ is None else environ
    for var in MIRROR_ENV:
        if environ.get(var):
            p = Path(environ[var]).expanduser()
            if p.name == "registry.terraform.io":
                p = p.parent
            if not _is_mirror(p):
                raise TerraformError(
                    f"{var}={environ[var]} holds no registry.terraform.io folder; point it at "
                    "the folder that contains registry.terraform.io/"
                )
            return p
    for pattern in _MIRROR_GLOBS:
        for hit in sorted(glob.glob(os.path.expanduser(pattern))):
            p = Path(hit).resolve()
            if _is_mirror(p):
                return p
    if not scan:
        return None
    try:
        proc = subprocess.run(
            ["find", "/opt", "/usr/local", "/srv", "-maxdepth", "4", "-type", "d",
             "-name", "registry.terraform.io"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in proc.stdout.splitlines():
        if line.strip():
            return Path(line.strip()).parent
    return None


def write_cli_config(
    path: Path, mirror: Path | None = None, plugin_cache: Path | None = None
) -> Path:
    """Write a Terraform CLI config: hashicorp/* providers from the mirror if there is one."""
    mirror = mirror if mirror is not None else discover_mirror()
    lines: list[str] = []
    if plugin_cache is not None:
        plugin_cache.mkdir(parents=True, exist_ok=True)
        lines.append(f"plugin_cache_dir = {json.dumps(str(plugin_cache))}")
        lines.append("plugin_cache_may_break_dependency_lock_file = true")
    if mirror is not None:
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f"    path    = {json.dumps(str(mirror))}",
            '    include = ["registry.terraform.io/hashicorp/*"]',
            "  }",
            "  direct {",
            '    exclude = ["registry.terraform.io/hashicorp/*"]',
            "  }",
            "}",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class PlanResult:
    """A saved plan and its JSON rendering (`{}` for a plan without changes: nothing to read)."""

    plan_file: Path
    has_changes: bool
    json: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """Counts of create/update/delete/replace actions in the plan."""
        counts = {"create": 0, "update": 0, "delete": 0, "replace": 0}
        for rc in self.json.get("resource_changes", []):
            actions = rc.get("change", {}).get("actions", [])
            if actions == ["create"]:
                counts["create"] += 1
            elif actions == ["update"]:
                counts["update"] += 1
            elif actions == ["delete"]:
                counts["delete"] += 1
            elif set(actions) == {"create", "delete"}:
                counts["replace"] += 1
        return counts

    def digest(self) -> str:
        """SHA-256 of the planned changes (not the plan file, which embeds timestamps).

        Compact, key-sorted JSON of `resource_changes` without no-op/read entries, sorted by
        address, each with address, actions, before, after and after_unknown. Two plans with
        the same digest make the same changes; CI compares the reviewed plan's digest with
        the one it is about to apply.
        """
        changes = [
            {
                "address": rc.get("address"),
                "actions": rc.get("change", {}).get("actions"),
                "before": rc.get("change", {}).get("before"),
                "after": rc.get("change", {}).get("after"),
                "after_unknown": rc.get("change", {}).get("after_unknown"),
            }
            for rc in self.json.get("resource_changes", [])
            if rc.get("change", {}).get("actions") not in (["no-op"], ["read"])
        ]
        changes.sort(key=lambda c: str(c["address"]))
        blob = json.dumps(changes, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def changed_addresses(self) -> list[str]:
        return [
            rc["address"]
            for rc in self.json.get("resource_changes", [])
            if rc.get("change", {}).get("actions") not in (["no-op"], ["read"])
        ]


class Terraform:
    """Runs terraform in one working directory with a fixed environment."""

    def __init__(
        self,
        workdir: Path,
        *,
        binary: Binary | None = None,
        cli_config: Path | None = None,
        env: Mapping[str, str] | None = None,
        on_line: LineSink | None = None,
        verbose: bool = False,
        log_dir: Path | None = None,
        pid_file: Path | None = None,
    ):
        self.verbose = verbose
        self.log_dir = log_dir
        self.pid_file = pid_file
        self._runs = 0
        self.workdir = workdir
        self.binary = binary or find_binary()
        self.cli_config = cli_config
        self.extra_env = dict(env or {})
        self.on_line = on_line

    # ---- plumbing ------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_VAR_", "TF_CLI_ARGS"))}
        env.update({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"})
        if self.cli_config is not None:
            env["TF_CLI_CONFIG_FILE"] = str(self.cli_config)
        for key, value in self.extra_env.items():
            if value == "":
                env.pop(key, None)  # an empty value means "unset it"
            else:
                env[key] = value
        return env

    def run(
        self, args: Sequence[str], *, capture: bool = False, ok_codes: Sequence[int] = (0,)
    ) -> subprocess.CompletedProcess[str]:
        """Run a terraform command. Streams lines unless capture; raises on a bad exit code.

        SIGINT/SIGTERM received meanwhile are forwarded to terraform's process group and
        terraform is waited for (it stops cleanly); then TerraformInterrupted is raised.
        """
        cmd = [self.binary.path, *args]
        self._runs += 1
        log_dir = self.log_dir
        if log_dir is None:
            import tempfile

            log_dir = Path(tempfile.mkdtemp(prefix="runnerfleet-tf-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        base = log_dir / f"{self._runs:02d}-{args[0]}"
        out_path, err_path = base.with_suffix(".out"), base.with_suffix(".err")
        main_thread = threading.current_thread() is threading.main_thread()
        with _private_file(out_path) as out_w, _private_file(err_path) as err_w:
            proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                env=self.environment(),
                stdout=out_w,
                stderr=err_w,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: signals reach it via us
                preexec_fn=(
                    _set_parent_death_signal
                    if main_thread and sys.platform.startswith("linux")
                    else None
                ),
            )
        if self.pid_file is not None:
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.pid_file.write_text(f"{proc.pid} {args[0]}\n")
        got: list[int] = []

        def forward(signum: int, _frame: Any) -> None:
            got.append(signum)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)

        previous: dict[signal.Signals, Any] = {}
        if main_thread:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, forward)
        out_lines: list[str] = []
        err_lines: list[str] = []
        try:
            with (
                out_path.open("r", errors="replace") as out_r,
                err_path.open("r", errors="replace") as err_r,
            ):
                tails = [_Tail(err_r, err_lines, True), _Tail(out_r, out_lines, not capture)]
                while True:
                    finished = proc.poll() is not None
                    for tail in tails:
                        for line in tail.read(final=finished):
                            if (
                                tail.show
                                and self.on_line is not None
                                and (self.verbose or is_progress_line(line))
                            ):
                                self.on_line(redact(line.rstrip("\n")))
                    if finished:
                        break
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=0.05)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if proc.poll() is None:  # we are leaving early (an exception): stop it cleanly
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    stop_group(proc.pid, grace_s=5)
            stop_group(proc.pid, grace_s=5)  # providers it may have left behind
            if self.pid_file is not None:
                with contextlib.suppress(OSError):
                    self.pid_file.unlink()
            if self.log_dir is None:
                shutil.rmtree(log_dir, ignore_errors=True)
        code = proc.returncode
        stdout = "".join(out_lines)
        stderr = "".join(err_lines)
        if got:
            raise TerraformInterrupted(args[0], got[0])
        if code not in ok_codes:
            last = redact("\n".join((stderr or stdout).strip().splitlines()[-60:]))
            raise TerraformError(
                f"`{self.binary.flavour} {args[0]}` failed (exit {code}) in {self.workdir}",
                last,
                code,
            )
        return subprocess.CompletedProcess(cmd, code, stdout, stderr)

    # ---- commands ------------------------------------------------------------------------
    def init(self, backend_config: Path | None = None, *, reconfigure: bool = True) -> None:
        args = ["init", "-no-color", "-input=false"]
        if backend_config is not None:
            args.append(f"-backend-config={backend_config}")
        if reconfigure:
            args.append("-reconfigure")
        self.run(args)

    def validate(self) -> dict[str, Any]:
        proc = self.run(["validate", "-json", "-no-color"], capture=True, ok_codes=(0, 1))
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    def plan(
        self,
        plan_file: Path,
        *,
        var_files: Sequence[Path] = (),
        destroy: bool = False,
        lock_timeout: str = "0s",
        targets: Sequence[str] = (),
    ) -> PlanResult:
        args = ["plan", "-no-color", "-input=false", "-detailed-exitcode", f"-out={plan_file}"]
        args.append(f"-lock-timeout={lock_timeout}")
        args += [f"-var-file={f}" for f in var_files]
        args += [f"-target={t}" for t in targets]
        if destroy:
            args.append("-destroy")
        proc = self.run(args, ok_codes=(0, 2))
        result = PlanResult(plan_file, has_changes=proc.returncode == 2)
        if result.has_changes:  # exit 0 is an empty diff: `show -json` (2 s, the provider's
            result.json = self.show_json(plan_file)  # schemas) would list only no-ops
        return result

    def show_json(self, plan_file: Path | None = None) -> dict[str, Any]:
        args = ["show", "-json", "-no-color"]
        if plan_file is not None:
            args.append(str(plan_file))
        proc = self.run(args, capture=True)
        data: dict[str, Any] = json.loads(_json_part(proc.stdout))
        return data

    def state_pull(self) -> dict[str, Any]:
        """The state as the backend holds it (format 4; {} before the first apply).

        Reads the backend only: no provider starts (`show -json` of the state takes about 2 s
        more for the same attributes)."""
        proc = self.run(["state", "pull"], capture=True)
        text = proc.stdout.strip()
        data: dict[str, Any] = json.loads(text) if text else {}
        return data

    def apply(self, plan_file: Path) -> None:
        self.run(["apply", "-no-color", "-input=false", "-auto-approve", str(plan_file)])

    def destroy(self, *, var_files: Sequence[Path] = ()) -> None:
        args = ["destroy", "-no-color", "-input=false", "-auto-approve"]
        args += [f"-var-file={f}" for f in var_files]
        self.run(args)

    def output(self) -> dict[str, Any]:
        proc = self.run(["output", "-json", "-no-color"], capture=True)
        raw: dict[str, Any] = json.loads(_json_part(proc.stdout))
        return {k: v.get("value") for k, v in raw.items() if not v.get("sensitive")}

    def fmt_check(self, recursive: bool = True) -> list[str]:
        args = ["fmt", "-check", "-list=true", "-no-color"]
        if recursive:
            args.append("-recursive")
        proc = self.run(args, capture=True, ok_codes=(0, 3))
        return [line for line in proc.stdout.splitlines() if line.strip()]


@contextlib.contextmanager
def _private_file(path: Path) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        yield fh


class _Tail:
    """Complete lines appended to a file since the last read."""

    def __init__(self, fh: Any, sink: list[str], show: bool):
        self.fh = fh
        self.sink = sink
        self.show = show
        self.partial = ""

    def read(self, final: bool = False) -> list[str]:
        chunk: str = self.fh.read()
        if not chunk and not (final and self.partial):
            return []
        text = self.partial + chunk
        lines = text.splitlines(keepends=True)
        self.partial = ""
        if lines and not lines[-1].endswith("\n") and not final:
            self.partial = lines.pop()
        self.sink.extend(lines)
        return lines


def _json_part(stdout: str) -> str:
    """Terraform may print warnings (e.g. the DynamoDB-lock deprecation) before the JSON."""
    start = min((i for i in (stdout.find("{"), stdout.find("[")) if i >= 0), default=0)
    return stdout[start:]
