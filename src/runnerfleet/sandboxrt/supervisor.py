"""The sandbox's runtime supervisor: one background process per sandbox, between CLI commands.

`python -m runnerfleet.sandboxrt.supervisor --home <.runnerfleet> --url-port P --control-port C`
is started by runnerfleet.sandbox (recorded in sandbox.json as `runtime`) and stopped by
`runnerfleet down`. It runs what the applied stack deployed, as AWS would:

- the function URL on 127.0.0.1:P (the GitHub emulator delivers its webhooks there),
- a worker per Lambda function (runnerfleet.sandboxrt.lambdas),
- EventBridge: EC2 instance state changes (watched in the AWS emulator), Auto Scaling
  lifecycle actions of groups with hooks (launching when a group's instance appears,
  terminating when it goes; their tokens are made active in the strict emulator so that
  CompleteLifecycleAction succeeds as in AWS) and schedules, delivered to the rules' targets;
  SQS event-source mappings,
- a simulated host per running runner instance (runnerfleet.sandboxrt.hosts).

The control port serves `POST /reload` (re-read `runtime/stack.json`, written by each `up`
from Terraform's state: the control plane follows the configuration of every `up`),
`GET /status` (functions, hosts, deliveries) and `POST /faults` (drop/duplicate webhook
deliveries). State changes seen before the stack's rules were loaded (during the first
apply) are delivered once the rules are, as if the rules had been created first.
Environment: RUNNERFLEET_SANDBOX_CLOCK (AWS seconds per real second, default 1),
RUNNERFLEET_SANDBOX_BOOT_SECONDS (host boot model, AWS seconds, default 20).
Everything it decides is logged to `.runnerfleet/control-plane.log`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from runnerfleet.sandboxrt.functions import FunctionSpec, Stack
from runnerfleet.sandboxrt.hosts import HostFleet, facts_from_env
from runnerfleet.sandboxrt.lambdas import FunctionWorker, WorkerSettings, service_assume
from runnerfleet.sandboxrt.triggers import (
    EC2_LIVE_STATES,
    AsyncInvoker,
    Clock,
    DeliveryFaults,
    EventBus,
    FunctionUrlServer,
    Instances,
    Scheduler,
    SqsPoller,
    ec2_changes,
    ec2_state_event,
)

log = logging.getLogger("runnerfleet.sandbox")

SANDBOX_KEY = "testing"  # the sandbox's deploy credentials (runnerfleet.sandbox)
STACK_FILE = "runtime/stack.json"
GITHUB_URLS = ("https://github.com", "https://api.github.com")
WATCH_SECONDS = 0.5


class Supervisor:
    def __init__(self, home: Path, url_port: int, control_port: int) -> None:
        self.home = home
        state = json.loads((home / "sandbox.json").read_text(encoding="utf-8"))
        self.region = str(state.get("region") or "us-east-1")
        self.endpoint = f"http://127.0.0.1:{state['aws']['port']}"
        gh_file = (state.get("github") or {}).get("extra", {}).get("state_file")
        self.github_url = ""
        if gh_file and Path(gh_file).exists():
            info = json.loads(Path(gh_file).read_text(encoding="utf-8"))
            self.github_url = str(info.get("url") or info.get("base_url") or "").rstrip("/")
        self.clock = Clock(float(os.environ.get("RUNNERFLEET_SANDBOX_CLOCK") or 1.0))
        self.session = boto3.Session(
            aws_access_key_id=SANDBOX_KEY, aws_secret_access_key=SANDBOX_KEY,
            region_name=self.region,
        )  # fmt: skip
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self.account = "123456789012"
        self.assume = service_assume(self.endpoint, "lambda.amazonaws.com", self.region)
        self.settings = WorkerSettings(
            home=home, region=self.region, account_id=self.account,
            aws_endpoint=self.endpoint, log_path=home / "control-plane.log",
        )  # fmt: skip
        self.stack = Stack()
        self.workers: dict[str, FunctionWorker] = {}
        self._lock = threading.RLock()
        self.invoker = AsyncInvoker(self.invoke, self.clock)
        self.bus = EventBus(self.stack, self.invoker, self.admin("sqs"))
        self.scheduler: Scheduler | None = None
        self.poller: SqsPoller | None = None
        self.pending: list[dict[str, Any]] = []
        # instance states seen before the stack named the fleet (replayed to the hosts)
        self._host_pending: list[tuple[str, str, dict[str, str]]] = []
        self._groups: dict[str, str] = {}  # instance id -> its Auto Scaling group
        self.hosts = HostFleet(
            workdir=home / "runtime" / "hosts", region=self.region, endpoint=self.endpoint,
            admin=self.admin, clock=self.clock,
            assume=service_assume(self.endpoint, "ec2.amazonaws.com", self.region),
            boot_seconds=float(os.environ.get("RUNNERFLEET_SANDBOX_BOOT_SECONDS") or 20.0),
        )  # fmt: skip
        self.url = FunctionUrlServer(lambda: self.stack, self.invoke, region=self.region,
                                     port=url_port)  # fmt: skip
        self.control = ThreadingHTTPServer(("127.0.0.1", control_port), _control_handler(self))
        self.control.daemon_threads = True
        self.stop_event = threading.Event()
        self.invocations: dict[str, dict[str, int]] = {}

    def admin(self, service: str) -> Any:
        """The deploy credentials' client for `service`, made once (boto3 clients are
        thread-safe; making one costs about 50 ms of CPU, and a host boot asked for five)."""
        with self._clients_lock:
            client = self._clients.get(service)
            if client is None:
                client = self.session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]
                self._clients[service] = client
            return client

    # ---- functions -------------------------------------------------------------------------
    def _sandbox_spec(self, spec: FunctionSpec) -> FunctionSpec:
        """The sandbox's GitHub is the emulator: github.com URLs in the environment point
        there, as AWS endpoints point at the AWS emulator."""
        if not self.github_url:
            return spec
        env = {
            k: (self.github_url if v.rstrip("/") in GITHUB_URLS else v)
            for k, v in spec.environment.items()
        }
        return dataclasses.replace(spec, environment=env)

    def invoke(self, function: str, event: Any) -> Any:
        worker = self.workers.get(function)
        if worker is None:
            raise RuntimeError(f"function {function} is not deployed in the sandbox")
        counts = self.invocations.setdefault(function, {"ok": 0, "error": 0})
        started = time.monotonic()
        try:
            result = worker.invoke(event)
        except Exception as exc:
            counts["error"] += 1
            log.error("invoke %s failed after %d ms: %s", function,
                      (time.monotonic() - started) * 1000, exc)  # fmt: skip
            raise
        counts["ok"] += 1
        log.info("invoke %s ok in %d ms", function, (time.monotonic() - started) * 1000)
        return result

    def reload(self) -> dict[str, Any]:
        path = self.home / STACK_FILE
        stack = Stack.from_json(path.read_text(encoding="utf-8")) if path.exists() else Stack()
        with self._lock:
            if self.scheduler is not None:
                self.scheduler.stop()
            if self.poller is not None:
                self.poller.stop()
            wanted = {fn.name: self._sandbox_spec(fn) for fn in stack.functions}
            for name, worker in list(self.workers.items()):
                if wanted.get(name) != worker.spec:
                    worker.stop()
                    del self.workers[name]
            for name, spec in wanted.items():
                if name not in self.workers:
                    self.workers[name] = FunctionWorker(spec, self.settings, self.assume)
            self.stack = stack
            self.bus = EventBus(stack, self.invoker, self.admin("sqs"))
            self.scheduler = Scheduler(self.bus, self.clock, account=self.account,
                                       region=self.region)  # fmt: skip
            self.scheduler.start()
            self.poller = SqsPoller(stack, self.admin("sqs"), self.invoke, region=self.region)
            self.poller.start()
            for fn in stack.functions:
                if fn.environment.get("RUNNERFLEET_NAME"):
                    self.hosts.facts = facts_from_env(fn.environment)
                    break
            pending, self.pending = self.pending, []
            early: list[tuple[str, str, dict[str, str]]] = []
            if self.hosts.facts is not None:
                early, self._host_pending = self._host_pending, []
        # instances that reached `running` before the stack named the fleet (Terraform made
        # them before this first reload: static hosts) boot now
        for instance_id, state, tags in early:
            self.hosts.on_state(instance_id, state, tags)
        for event in pending:
            self.bus.put(event)
        log.info("stack loaded: functions %s, rules %s", sorted(wanted),
                 [r.name for r in stack.rules])  # fmt: skip
        return {"functions": sorted(wanted), "rules": [r.name for r in stack.rules],
                "replayed": len(pending)}  # fmt: skip

    # ---- EC2 -------------------------------------------------------------------------------
    def _emit(self, instance_id: str, state: str, tags: dict[str, str]) -> None:
        event = ec2_state_event(instance_id, state, account=self.account, region=self.region)
        with self._lock:
            if not self.stack.rules:
                self.pending.append(event)
            else:
                self.bus.put(event)
            if self.hosts.facts is None:
                self._host_pending.append((instance_id, state, dict(tags)))
                return
        self.hosts.on_state(instance_id, state, tags)

    def _lifecycle(self, instance_id: str, transition: str) -> None:
        """Auto Scaling's lifecycle action for an instance of a group with a hook for
        `transition`: made active in the strict emulator (so its token can be completed, as
        in AWS) and announced on the bus in EventBridge's shape."""
        from runnerfleet.sandboxrt.triggers import lifecycle_event
        from runnerfleet.strictaws import register_lifecycle_action

        asg = self.admin("autoscaling")
        try:
            found = asg.describe_auto_scaling_instances(InstanceIds=[instance_id])
            groups = [i["AutoScalingGroupName"] for i in found.get("AutoScalingInstances", [])]
            group = groups[0] if groups else self._groups.get(instance_id)
            if not group:
                return
            self._groups[instance_id] = group
            hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
            for hook in hooks:
                if hook["LifecycleTransition"] != transition:
                    continue
                token = register_lifecycle_action(
                    self.endpoint, group, hook["LifecycleHookName"], instance_id
                )
                event = lifecycle_event(
                    group, hook["LifecycleHookName"], instance_id, transition, token,
                    hook.get("NotificationMetadata"), account=self.account, region=self.region,
                )  # fmt: skip
                with self._lock:
                    if not self.stack.rules:
                        self.pending.append(event)
                    else:
                        self.bus.put(event)
        except Exception as exc:
            log.warning("lifecycle %s %s: %s", transition, instance_id, exc)

    def watch_ec2(self) -> None:
        known: Instances = {}
        ec2 = self.admin("ec2")
        live_only = [{"Name": "instance-state-name", "Values": list(EC2_LIVE_STATES)}]
        while not self.stop_event.wait(WATCH_SECONDS):
            try:
                live: Instances = {}
                pages = ec2.get_paginator("describe_instances").paginate(Filters=live_only)
                for page in pages:
                    for res in page["Reservations"]:
                        for inst in res["Instances"]:
                            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                            live[inst["InstanceId"]] = (inst["State"]["Name"], tags)
            except Exception as exc:
                log.warning("EC2 watch: %s", exc)
                continue
            for change in ec2_changes(known, live):
                if change.launching:
                    self._lifecycle(change.instance_id, "autoscaling:EC2_INSTANCE_LAUNCHING")
                if change.terminating:
                    self._lifecycle(change.instance_id, "autoscaling:EC2_INSTANCE_TERMINATING")
                for step in change.steps:
                    self._emit(change.instance_id, step, change.tags)
            known = live  # a terminated instance is announced once, then forgotten

    # ---- lifecycle -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "functions": {
                name: {"invocations": w.invocations, "cold_starts": w.cold_starts,
                       **self.invocations.get(name, {"ok": 0, "error": 0})}
                for name, w in self.workers.items()
            },
            "hosts": self.hosts.summary(),
            "deliveries": {"requests": self.url.requests, "dropped": self.url.faults.dropped,
                           "duplicated": self.url.faults.duplicated},
            "schedules": dict(self.scheduler.fired) if self.scheduler else {},
            "async_failures": list(self.invoker.failures),
            "clock": self.clock.factor,
        }  # fmt: skip

    def run(self) -> None:
        self.url.start()
        threading.Thread(target=self.control.serve_forever, name="control", daemon=True).start()
        threading.Thread(target=self.watch_ec2, name="ec2-watch", daemon=True).start()
        self.reload()
        log.info("runtime up: function URL on 127.0.0.1:%d, clock x%s", self.url.port,
                 self.clock.factor)  # fmt: skip
        self.stop_event.wait()
        self.shutdown()

    def shutdown(self) -> None:
        log.info("runtime stopping")
        self.hosts.stop_all()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.poller is not None:
            self.poller.stop()
        self.invoker.stop()
        for worker in list(self.workers.values()):
            worker.stop()
        self.url.stop()
        self.control.shutdown()


def _control_handler(sup: Supervisor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/status":
                self._send(200, sup.status())
            else:
                self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                if self.path == "/reload":
                    self._send(200, sup.reload())
                elif self.path == "/faults":
                    b = json.loads(raw or b"{}")
                    sup.url.faults = DeliveryFaults(
                        drop=float(b.get("drop", 0)), duplicate=float(b.get("duplicate", 0)),
                        seed=int(b.get("seed", 0)),
                    )  # fmt: skip
                    self._send(200, {"ok": True})
                else:
                    self._send(404, {"error": f"no route {self.path}"})
            except Exception as exc:
                log.error("control %s failed: %s", self.path, exc)
                self._send(500, {"error": f"{type(exc).__name__}: {exc}"})

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runnerfleet.sandboxrt.supervisor")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--url-port", required=True, type=int)
    parser.add_argument("--control-port", required=True, type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO,
        format="sandbox %(asctime)s %(levelname)s %(name)s: %(message)s",
    )  # fmt: skip
    for noisy in ("botocore", "urllib3", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sup = Supervisor(args.home.resolve(), args.url_port, args.control_port)

    def on_signal(_sig: int, _frame: Any) -> None:
        sup.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sup.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
