"""A stand-in for the GitHub Actions runner's `config.sh` and `run.sh`, for the GitHub emulator.

Simulated hosts (sandbox, tests) have no real runner; this script takes its place so that the
real agent code runs unchanged. It reads its secret the way the real runner does, from
`ACTIONS_RUNNER_INPUT_JITCONFIG` or `ACTIONS_RUNNER_INPUT_TOKEN`, never from argv:

- `config --unattended --replace --url U --name N --labels L [--ephemeral]`: registers with a
  registration token (emulator_runner.connect_with_registration_token) and saves the session
  in `.runner` (0600, like the real runner's credential files).
- `run`: with a JIT config, connects it; otherwise resumes the session from `.runner`. Writes
  "Listening for Jobs" to `_diag/Runner_*.log`, then polls for jobs, finishes each with
  success (after the job's duration when the sandbox wrote `.sandbox-jobs`), exits 0 after
  one job when ephemeral. The first _diag line says who it runs as (user, groups, HOME,
  USER; `identity()`). On SIGINT/SIGTERM an ephemeral runner
  disconnects (offline); a persistent one keeps its session for the next `run`.

Install it in a directory with `install(runner_dir)`, which writes `config.sh` and `run.sh`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx

from runnerfleet.github import emulator_runner
from runnerfleet.github.models import Runner

POLL_SECONDS = 0.2
MAX_CONSECUTIVE_ERRORS = 50

_WRAPPER = """#!/bin/sh
# runnerfleet stand-in for the actions runner's {script} (simulated host)
{env}exec "{python}" -m runnerfleet.agent.standin {command} "$@"
"""


def install(runner_dir: Path, python: str = sys.executable, pythonpath: str | None = None) -> None:
    """Write `config.sh` and `run.sh` that run this stand-in; `pythonpath` is set for the
    stand-in alone (the agent that starts it keeps its own imports)."""
    runner_dir.mkdir(parents=True, exist_ok=True)
    env = f'PYTHONPATH="{pythonpath}" ' if pythonpath else ""
    for script, command in (("config.sh", "config"), ("run.sh", "run")):
        path = runner_dir / script
        path.write_text(_WRAPPER.format(script=script, python=python, command=command, env=env))
        path.chmod(0o755)


def identity() -> str:
    """Who this process runs as: user, uid, every group by name, HOME and USER."""
    import grp
    import pwd

    def group_name(gid: int) -> str:
        try:
            return grp.getgrgid(gid).gr_name
        except KeyError:
            return str(gid)

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    groups = ",".join(group_name(g) for g in sorted({os.getgid(), *os.getgroups()}))
    home, env_user = os.environ.get("HOME", ""), os.environ.get("USER", "")
    return f"user={user} uid={uid} groups={groups} HOME={home} USER={env_user}"


def _split_url(url: str) -> tuple[str, str, str | None]:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if not segments or len(segments) > 2:
        raise SystemExit(f"stand-in config: --url {url!r} must end in /<owner> or /<owner>/<repo>")
    base = f"{parts.scheme}://{parts.netloc}"
    return base, segments[0], segments[1] if len(segments) == 2 else None


def _diag(message: str) -> None:
    diag = Path("_diag")
    diag.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    with (diag / f"Runner_{stamp}-utc.log").open("a", encoding="utf-8") as fh:
        fh.write(f"[{time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}] {message}\n")


def config(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="config.sh")
    parser.add_argument("--unattended", action="store_true")
    parser.add_argument("--replace", action="store_true")
    parser.add_argument("--ephemeral", action="store_true")
    parser.add_argument("--url", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--labels", default="")
    parser.add_argument("--work", default="_work")
    args = parser.parse_args(argv)
    token = os.environ.pop("ACTIONS_RUNNER_INPUT_TOKEN", "")
    if not token:
        print("config.sh: no registration token in ACTIONS_RUNNER_INPUT_TOKEN", file=sys.stderr)
        return 2
    base, owner, repo = _split_url(args.url)
    labels = [x for x in args.labels.split(",") if x]
    try:
        session = emulator_runner.connect_with_registration_token(
            base, owner, repo, token, args.name, labels, ephemeral=args.ephemeral
        )
    except (emulator_runner.RunnerProtocolError, httpx.HTTPError) as exc:
        print(f"config.sh: registration failed: {type(exc).__name__} {exc}", file=sys.stderr)
        return 1
    state = {
        "url": base,
        "session": session._session,
        "runner": {"id": session.runner.id, "name": session.runner.name},
        "ephemeral": args.ephemeral,
    }
    path = Path(".runner")
    path.write_text(json.dumps(state), encoding="utf-8")
    path.chmod(0o600)
    print(f"config.sh: runner {session.runner.name} registered (id {session.runner.id})")
    return 0


def _resume() -> tuple[emulator_runner.RunnerSession, bool]:
    state = json.loads(Path(".runner").read_text(encoding="utf-8"))
    runner = Runner(
        id=int(state["runner"]["id"]),
        name=str(state["runner"]["name"]),
        os="Linux",
        status="online",
        busy=False,
    )
    http = httpx.Client(base_url=str(state["url"]), timeout=10.0)
    return emulator_runner.RunnerSession(http, str(state["session"]), runner), bool(
        state.get("ephemeral")
    )


def _job_seconds(job_id: int) -> float:
    """How long job `job_id` takes: the sandbox writes `.sandbox-jobs` in the runner folder,
    {"jobs_file": <runtime/jobs.json>, "clock": <factor>}; the job's `duration` there, in
    sandbox seconds, divided by the clock factor. No file or no entry: done at once."""
    try:
        ref = json.loads(Path(".sandbox-jobs").read_text(encoding="utf-8"))
        rows = json.loads(Path(str(ref["jobs_file"])).read_text(encoding="utf-8"))
        clock = max(float(ref.get("clock") or 1.0), 1e-3)
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
    for row in rows:
        if row.get("id") == job_id:
            return max(0.0, float(row.get("duration") or 0.0)) / clock
    return 0.0


def run(argv: list[str]) -> int:
    del argv
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    jit = os.environ.pop("ACTIONS_RUNNER_INPUT_JITCONFIG", "")
    try:
        if jit:
            session, ephemeral = emulator_runner.connect(jit), True
        elif Path(".runner").is_file():
            session, ephemeral = _resume()
        else:
            print("run.sh: not configured (no JIT config and no .runner)", file=sys.stderr)
            return 2
    except (emulator_runner.RunnerProtocolError, httpx.HTTPError, ValueError) as exc:
        print(f"run.sh: could not connect: {type(exc).__name__} {exc}", file=sys.stderr)
        return 1
    name = session.runner.name
    print(f"run.sh: {name} connected; Listening for Jobs", flush=True)
    _diag(f"Runner {name}: running as {identity()}")
    _diag(f"Runner {name}: Listening for Jobs")
    errors = 0
    while not stop.is_set():
        try:
            job = session.poll_job()
            errors = 0
        except (emulator_runner.RunnerProtocolError, httpx.HTTPError) as exc:
            errors += 1
            if errors >= MAX_CONSECUTIVE_ERRORS or getattr(exc, "status", 0) == 401:
                print(f"run.sh: lost the service: {exc}", file=sys.stderr)
                return 1
            stop.wait(POLL_SECONDS)
            continue
        if job is None:
            stop.wait(POLL_SECONDS)
            continue
        _diag(f"Running job: {job.get('name', job['id'])}")
        stop.wait(_job_seconds(int(job["id"])))  # the sandbox's job duration (0: at once)
        session.complete_job("success")
        _diag(f"Job {job['id']} completed with result: Succeeded")
        if ephemeral:
            print(f"run.sh: {name} finished its job; exiting (ephemeral)", flush=True)
            return 0
    if ephemeral:
        session.disconnect()
        print(f"run.sh: {name} stopped; offline", flush=True)
    else:
        # The emulator cannot bring a disconnected persistent runner back (no heartbeat, no
        # resume): keep its session so that a restarted run.sh resumes, as the real runner
        # does with its stored credentials.
        print(f"run.sh: {name} stopped; session kept for the next run.sh", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("config", "run"):
        print("usage: python -m runnerfleet.agent.standin config|run [options]", file=sys.stderr)
        return 2
    return config(args[1:]) if args[0] == "config" else run(args[1:])


if __name__ == "__main__":
    sys.exit(main())
