"""What `runnerfleet up` does in the sandbox after apply: hand the applied stack to the runtime.

1. The GitHub emulator's credentials and the webhook secret go to SSM `/<name>/github/*`
   (runnerfleet.controlplane.sandbox.publish_github_credentials), where the functions read
   them.
2. Terraform's state (`terraform state pull`, through the project's wrapper) becomes the
   runtime's `runtime/stack.json` (runnerfleet.sandboxrt.functions), and the supervisor
   reloads it: new or changed functions get fresh workers, rules and schedules are rewired.
3. It waits (bounded) until every running runner instance of the fleet has an online runner
   in the GitHub emulator, so that `up` returns with the fleet usable; hosts still booting
   after the wait are reported, not failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from runnerfleet.sandboxrt.functions import stack_from_state

Reporter = Callable[[str], None]
ONLINE_WAIT_SECONDS = 180.0


def _fleet_running(ec2: Any, name: str) -> set[str]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:runnerfleet:fleet", "Values": [name]},
            {"Name": "tag:runnerfleet:role", "Values": ["runner"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    return {i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]}


def after_apply(cfg: Any, target: Any, terraform: Any, report: Reporter) -> dict[str, Any]:
    """Steps 1-3 of the module docstring; returns the runtime's reload answer."""
    from runnerfleet.controlplane.sandbox import publish_github_credentials

    box = target.sandbox
    if cfg.control_plane.enabled:
        publish_github_credentials(cfg, target)
    stack = stack_from_state(terraform.state_pull())
    path = box.home / "runtime" / "stack.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stack.to_json(), encoding="utf-8")
    box.start()  # (re)starts the runtime if it is not running
    loaded: dict[str, Any] = box.runtime_call("POST", "/reload")
    report(f"sandbox runtime: functions {', '.join(loaded['functions']) or 'none'}")
    if not stack.functions:
        return loaded
    wanted = _fleet_running(target.client("ec2"), cfg.name)
    deadline = time.monotonic() + ONLINE_WAIT_SECONDS
    pending = set(wanted)
    while pending and time.monotonic() < deadline:
        hosts = {h["instance_id"]: h for h in box.runtime_status()["hosts"]}
        pending = {i for i in wanted if hosts.get(i, {}).get("state") not in ("online", "failed")}
        if pending:
            time.sleep(0.5)
    for iid in sorted(wanted):
        host = {h["instance_id"]: h for h in box.runtime_status()["hosts"]}.get(iid, {})
        report(f"simulated host {iid}: {host.get('state', 'not booted')} {host.get('detail', '')}")
    return loaded
