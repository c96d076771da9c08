"""The agent's main loop: registration -> runner -> supervision -> drain or self-termination.

Lifecycles AWS accepts: an ephemeral host in an Auto Scaling group terminates itself after its
job, decrementing the group's desired capacity only above the minimum (AWS refuses the
decrement at the minimum; there the group replaces the host); a static ephemeral host stays
and waits for a fresh registration for its next job (the registrar issues one when its runner
is gone); a host that cannot start its runner is replaced (ASG) or tagged failed (static).

Thin I/O around `decisions`: the SSM and EC2 clients, the IMDS client, the launcher, the clock
and the sleep are all injected, so tests drive the real loop against emulators without waiting.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from runnerfleet.agent import decisions
from runnerfleet.agent.decisions import Action, State
from runnerfleet.agent.health import HealthReporter
from runnerfleet.agent.launcher import Launcher, RunnerProcess
from runnerfleet.agent.logsafe import SECRETS, logger
from runnerfleet.agent.registration import Registration, RegistrationError, parameter_name
from runnerfleet.agent.settings import AgentSettings

log = logger(__name__)
T = TypeVar("T")

ONLINE_MARKER = "Listening for Jobs"


class Imds(Protocol):
    """What the agent needs from the instance metadata service."""

    def instance_id(self) -> str: ...

    def spot_action(self) -> str | None: ...

    def lifecycle_state(self) -> str | None: ...


class AgentFailed(RuntimeError):
    """The agent gave up after its bounded retries."""


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def runner_online(runner_dir: Path, since: float = 0.0) -> bool:
    """True once a _diag log written at or after `since` (epoch s) says it listens for jobs."""
    diag = runner_dir / "_diag"
    if not diag.is_dir():
        return False
    for path in sorted(diag.glob("Runner_*.log")):
        try:
            if path.stat().st_mtime < since:
                continue
            if ONLINE_MARKER in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


@dataclass
class Agent:
    """One host's agent. Call `run()`; it returns the final state."""

    settings: AgentSettings
    ssm: Any
    ec2: Any
    imds: Imds
    launcher: Launcher
    autoscaling: Any = None
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    stop_event: threading.Event = field(default_factory=threading.Event)
    instance_id: str = ""
    health: HealthReporter = field(init=False)
    asg_name: str | None = None
    _warm_logged: bool = False

    def __post_init__(self) -> None:
        self.health = HealthReporter(self.settings.status_dir, self.ec2, self.wall_clock)

    # ---- entry point ---------------------------------------------------------------------
    def run(self) -> State:
        try:
            return self._run()
        finally:
            self.health.finish()

    def _run(self) -> State:
        s = self.settings
        self.instance_id = self._retry("read the instance id from IMDSv2", self.imds.instance_id)
        self.health.instance_id = self.instance_id
        self.health.report(State.STARTING, f"fleet {s.name}, ephemeral={s.ephemeral}")
        self.asg_name = self._asg_name()
        first = True
        while True:
            got = self._acquire_registration(bounded=first)
            first = False
            if got is None:
                return self._drain(None)
            if got is Action.AWAIT_REGISTRATION:
                self._clear_marker()
                continue
            if isinstance(got, Action):
                final = self._after_consumed(got)
            else:
                self.health.runner_name = got.runner_name
                self.health.runner_id = got.runner_id
                if got.kind == "token" and not self._configure(got):
                    return self._give_up("config.sh failed after bounded retries")
                env = {"ACTIONS_RUNNER_INPUT_JITCONFIG": got.secret} if got.kind == "jit" else {}
                final = self._supervise(env)
            if final is not None:
                return final
            # a static ephemeral host after its job: clean up and take the next registration
            self._clear_marker()
            self._forget_runner()
            self.health.runner_name = None
            self.health.runner_id = None

    # ---- registration --------------------------------------------------------------------
    def _acquire_registration(self, bounded: bool = True) -> Registration | Action | None:
        """Read and delete this host's registration. The first one is awaited for at most
        `registration_timeout`; a static host's next one (after a job) without a bound."""
        s = self.settings
        name = parameter_name(s.registration_parameter_prefix, self.instance_id)
        marker = self._read_marker()
        deadline = self.clock() + s.registration_timeout if bounded else float("inf")
        self.health.report(State.WAITING, f"reading {name}")
        attempt = 0
        while True:
            if self._should_drain():
                return None
            if self._warming():
                # A warm-pool instance gets its registration once it goes InService: never
                # consume one while warming (it could be stopped mid-job or spend it).
                deadline = self.clock() + s.registration_timeout if bounded else deadline
                self.sleep(s.poll_interval)
                continue
            try:
                resp = self.ssm.get_parameter(Name=name, WithDecryption=True)
            except (ClientError, BotoCoreError) as exc:
                code = _error_code(exc)
                if code == "ParameterNotFound" and marker:
                    log.info("%s was already consumed by this host (%s)", name, marker["kind"])
                    return decisions.on_registration_consumed(
                        ephemeral=s.ephemeral, configured=self._configured(), in_asg=self.in_asg
                    )
                if self.clock() >= deadline:
                    log.error(
                        "no registration at %s after %.0f s; the registrar did not write one",
                        name,
                        s.registration_timeout,
                    )
                    return decisions.on_start_failures_exhausted(
                        ephemeral=s.ephemeral, in_asg=self.in_asg
                    )
                attempt += 1
                delay = s.wait_backoff.delay(attempt)
                log.info("%s not readable yet (%s); retrying in %.0f s", name, code or exc, delay)
                self.sleep(delay)
                continue
            value = str(resp["Parameter"]["Value"])
            SECRETS.add(value)
            try:
                reg = Registration.from_json(value)
            except RegistrationError as exc:
                self._delete_parameter(name)
                self.health.report(State.FAILED, str(exc))
                raise AgentFailed(f"{name}: {exc}") from None
            SECRETS.add(reg.secret)
            if not self._delete_parameter(name):
                log.warning("%s was deleted by another reader before this host; not using it", name)
                return decisions.on_registration_consumed(
                    ephemeral=s.ephemeral, configured=self._configured(), in_asg=self.in_asg
                )
            self._write_marker(name, reg)
            log.info(
                "consumed %s registration for runner %s from %s", reg.kind, reg.runner_name, name
            )
            return reg

    def _delete_parameter(self, name: str) -> bool:
        """Delete the one-shot parameter; False if someone else already did."""
        attempt = 0
        while True:
            try:
                self.ssm.delete_parameter(Name=name)
                return True
            except (ClientError, BotoCoreError) as exc:
                if _error_code(exc) == "ParameterNotFound":
                    return False
                attempt += 1
                if self.settings.start_backoff.exhausted(attempt):
                    raise AgentFailed(f"could not delete {name}: {exc}") from None
                self.sleep(self.settings.start_backoff.delay(attempt))

    def _read_marker(self) -> dict[str, str] | None:
        try:
            data = json.loads(self.settings.state_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) and data.get("consumed") else None

    def _write_marker(self, name: str, reg: Registration) -> None:
        path = self.settings.state_file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            body = {"consumed": name, "kind": reg.kind, "runner_name": reg.runner_name}
            path.write_text(json.dumps(body), encoding="utf-8")
        except OSError as exc:
            log.warning("could not record consumption in %s: %s", path, exc)

    def _clear_marker(self) -> None:
        self.settings.state_file.unlink(missing_ok=True)

    def _forget_runner(self) -> None:
        """Remove the finished runner's local registration files before the next one."""
        for name in (".runner", ".credentials", ".credentials_rsaparams"):
            (self.settings.runner_dir / name).unlink(missing_ok=True)

    def _configured(self) -> bool:
        return (self.settings.runner_dir / ".runner").is_file()

    @property
    def in_asg(self) -> bool:
        return self.asg_name is not None

    def _after_consumed(self, action: Action) -> State | None:
        if action is Action.RESTART_RUNNER:
            log.info("runner already configured; starting it again")
            return self._supervise({})
        if action is Action.TERMINATE_SELF:
            self.health.report(State.FAILED, "registration already consumed; replacing this host")
            self._terminate_self(replace=True)
            return State.FAILED
        return self._give_up("no usable registration for this host")

    # ---- runner --------------------------------------------------------------------------
    def _configure(self, reg: Registration) -> bool:
        s = self.settings
        self.health.report(State.REGISTERING, f"config.sh for {reg.runner_name}")
        labels = ",".join(dict.fromkeys((*s.labels, *reg.labels)))
        argv = [
            str(s.runner_dir / "config.sh"),
            "--unattended",
            "--replace",
            "--url",
            str(reg.url),
            "--name",
            reg.runner_name,
            "--labels",
            labels,
            "--work",
            "_work",
        ]
        if s.ephemeral:
            argv.append("--ephemeral")
        env = {"ACTIONS_RUNNER_INPUT_TOKEN": reg.secret}
        attempt = 0
        while True:
            code = self.launcher.run(argv, env, timeout=s.config_timeout)
            if code == 0:
                log.info("runner %s configured", reg.runner_name)
                return True
            attempt += 1
            if s.start_backoff.exhausted(attempt):
                return False
            delay = s.start_backoff.delay(attempt)
            log.warning("config.sh exited %d; retry %d in %.0f s", code, attempt, delay)
            self.sleep(delay)

    def _supervise(self, env: dict[str, str]) -> State | None:
        """Run the runner until the host is done (a final state) or, for a static ephemeral
        host whose job is finished, None: the caller takes the next registration."""
        s = self.settings
        argv = [str(s.runner_dir / "run.sh")]
        failures = 0
        while True:
            self.health.report(State.REGISTERING, "starting run.sh")
            since = self.wall_clock()
            proc = self.launcher.start(argv, env)
            started = self.clock()
            online = False
            while True:
                if self._should_drain():
                    return self._drain(proc)
                code = proc.poll()
                if code is not None:
                    break
                if not online and (
                    runner_online(s.runner_dir, since) or self.clock() - started >= s.online_grace
                ):
                    online = True
                    failures = 0
                    self.health.report(State.ONLINE, "runner listening for jobs")
                self.sleep(s.poll_interval)
            went_online = online or code == 0 or runner_online(s.runner_dir, since)
            action = decisions.on_runner_exit(
                ephemeral=s.ephemeral, exit_code=code, went_online=went_online, in_asg=self.in_asg
            )
            log.info("run.sh exited %d (online=%s): %s", code, went_online, action.value)
            if action is Action.TERMINATE_SELF:
                self.health.report(State.DONE, "ephemeral runner finished its job")
                self._terminate_self(replace=False)
                return State.DONE
            if action is Action.AWAIT_REGISTRATION:
                log.info("ephemeral runner finished its job; waiting for the next registration")
                return None
            if action is Action.RETRY_START:
                failures += 1
                if s.start_backoff.exhausted(failures):
                    return self._give_up(f"run.sh failed {failures} times before going online")
                delay = s.start_backoff.delay(failures)
                log.warning("runner did not come online; retry %d in %.0f s", failures, delay)
                self.sleep(delay)
            # RESTART_RUNNER: loop and start run.sh again

    def _give_up(self, why: str) -> State:
        self.health.report(State.FAILED, why)
        action = decisions.on_start_failures_exhausted(
            ephemeral=self.settings.ephemeral, in_asg=self.in_asg
        )
        if action is Action.TERMINATE_SELF:
            self._terminate_self(replace=True)
        return State.FAILED

    def _warming(self) -> bool:
        """True while the ASG target lifecycle state is Warmed:* (a warm-pool instance)."""
        try:
            state = self.imds.lifecycle_state()
        except Exception as exc:  # a flaky IMDS must not block the registration
            log.warning("IMDS lifecycle check failed: %s", exc)
            return False
        if state is not None and state.startswith("Warmed:"):
            if not self._warm_logged:
                self._warm_logged = True
                self.health.report(State.WAITING, f"warm pool ({state}): not registering yet")
            return True
        return False

    # ---- interruption and termination ----------------------------------------------------
    def _should_drain(self) -> bool:
        if self.stop_event.is_set():
            return True
        try:
            spot = self.imds.spot_action()
            lifecycle = self.imds.lifecycle_state()
        except Exception as exc:  # a flaky IMDS must not kill the runner
            log.warning("IMDS notice check failed: %s", exc)
            return False
        if decisions.interrupted(spot, lifecycle, stop_requested=False):
            log.warning("interruption notice (spot=%s, lifecycle=%s): draining", spot, lifecycle)
            return True
        return False

    def _drain(self, proc: RunnerProcess | None) -> State:
        self.health.report(State.DRAINING, "stopping the runner before the host goes away")
        if proc is not None:
            code = proc.stop(self.settings.drain_grace)
            log.info("runner stopped (exit %s); GitHub sees it offline", code)
        return State.DRAINING

    def _terminate_self(self, *, replace: bool) -> None:
        """End this instance. In an Auto Scaling group: with `replace` (a failed host) never
        decrement, so the group launches a fresh one; after a finished job decrement only
        above the group's minimum, and fall back to no decrement when AWS refuses it (another
        host took the group to its minimum first)."""
        asg = self.asg_name
        if asg and self.autoscaling is not None:
            decrement = not replace and self._above_minimum(asg)
            try:
                self._terminate_in_group(decrement)
            except ClientError as exc:
                if not decrement or _error_code(exc) != "ValidationError":
                    raise
                log.warning("%s refused the decrement (%s); terminating without it", asg, exc)
                self._terminate_in_group(False)
        else:
            self._retry(
                f"terminate {self.instance_id}",
                lambda: self.ec2.terminate_instances(InstanceIds=[self.instance_id]),
            )
        log.info("asked to terminate this instance %s", self.instance_id)

    def _terminate_in_group(self, decrement: bool) -> None:
        log.info(
            "terminating %s in %s (%s desired capacity)",
            self.instance_id,
            self.asg_name,
            "decrementing" if decrement else "keeping",
        )
        self._retry(
            f"terminate {self.instance_id} in {self.asg_name}",
            lambda: self.autoscaling.terminate_instance_in_auto_scaling_group(
                InstanceId=self.instance_id, ShouldDecrementDesiredCapacity=decrement
            ),
            give_up_on=("ValidationError",),
        )

    def _above_minimum(self, asg: str) -> bool:
        try:
            resp = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])
            group = resp["AutoScalingGroups"][0]
        except (ClientError, BotoCoreError, IndexError, KeyError) as exc:
            log.warning("could not read %s's sizes (%s); not decrementing", asg, exc)
            return False
        return decisions.should_decrement(
            desired=int(group["DesiredCapacity"]), min_size=int(group["MinSize"])
        )

    def _asg_name(self) -> str | None:
        try:
            resp = self.ec2.describe_instances(InstanceIds=[self.instance_id])
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not read this instance's tags: %s", exc)
            return None
        for res in resp.get("Reservations", []):
            for inst in res.get("Instances", []):
                for tag in inst.get("Tags", []):
                    if tag.get("Key") == "aws:autoscaling:groupName":
                        return str(tag.get("Value"))
        return None

    # ---- helpers -------------------------------------------------------------------------
    def _retry(self, what: str, fn: Callable[[], T], give_up_on: tuple[str, ...] = ()) -> T:
        """Call `fn` with bounded retries; errors whose code is in `give_up_on` are raised
        at once (AWS refused the request itself: retrying cannot help)."""
        backoff = self.settings.start_backoff
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:  # bounded, logged, re-raised at the end
                if give_up_on and _error_code(exc) in give_up_on:
                    raise
                attempt += 1
                if backoff.exhausted(attempt):
                    raise AgentFailed(f"{what}: gave up after {attempt} tries: {exc}") from None
                delay = backoff.delay(attempt)
                log.warning("%s failed (%s); retry %d in %.0f s", what, exc, attempt, delay)
                self.sleep(delay)
