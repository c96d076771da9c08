"""A host launched into its group's warm pool completes its own launch lifecycle action.

An instance launching into the warm pool waits in `Warmed:Pending:Wait` on the group's
launch hook (`<group>-launch`, the runner-fleet module's name). CONTINUE there makes Auto
Scaling stop (or hibernate) the instance into the pool at once, without waiting for user
data; cloud-init does not run it again on the next start. So the registrar leaves that
action alone (runnerfleet.controlplane.registrar) and the host completes it itself:

- `runnerfleet-agent-warm-launch heartbeat` (bootstrap.sh, before each step once the agent is
  installed): while the instance is in `Warmed:Pending:Wait`, RecordLifecycleActionHeartbeat,
  so the hook's heartbeat timeout (whose default result, CONTINUE, would stop it mid-boot)
  restarts at every step; never fails the boot.
- `runnerfleet-agent-warm-launch continue` (bootstrap.sh's last step, `complete-launch`):
  while in `Warmed:Pending:Wait`, CompleteLifecycleAction CONTINUE, so it is stopped only
  with its bootstrap done. A refusal fails the step, and bootstrap.sh's failure report
  (runnerfleet.agent.failure) abandons the action instead.

Any other state is left alone: `Pending:Wait` (a direct launch into the group, or leaving
the pool: the registrar completes it once the registration exists), `InService`, or no group
(a static host). The instance role may complete and heartbeat lifecycle actions of the
fleet's groups only (infra/modules/runner-fleet/iam.tf). One line on stdout per outcome
(bootstrap.sh appends it to /var/log/user-data.log).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

WARM_PENDING = "Warmed:Pending:Wait"


@dataclass(frozen=True)
class LaunchReport:
    instance_id: str
    action: str  # "continued" | "heartbeat" | "none"
    detail: str


def _member(autoscaling: Any, instance_id: str) -> tuple[str, str] | None:
    found = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])
    members = found.get("AutoScalingInstances", [])
    if not members:
        return None
    return str(members[0]["AutoScalingGroupName"]), str(members[0].get("LifecycleState", ""))


def report_bootstrap_progress(
    *,
    instance_id: str,
    autoscaling: Any,
    mode: Literal["continue", "heartbeat"],
    tries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> LaunchReport:
    """Heartbeat or CONTINUE the warm-pool launch action (see the module doc). A transient
    error is retried `tries` times; the last one is raised."""
    for attempt in range(1, tries + 1):
        try:
            member = _member(autoscaling, instance_id)
            if member is None:
                return LaunchReport(instance_id, "none", "not in an Auto Scaling group")
            group, state = member
            if state != WARM_PENDING:
                return LaunchReport(instance_id, "none", f"{state} in {group}: nothing to do")
            hook = f"{group}-launch"
            ident = {
                "AutoScalingGroupName": group,
                "LifecycleHookName": hook,
                "InstanceId": instance_id,
            }
            if mode == "heartbeat":
                autoscaling.record_lifecycle_action_heartbeat(**ident)
                return LaunchReport(instance_id, "heartbeat", f"{hook} heartbeat in {group}")
            autoscaling.complete_lifecycle_action(**ident, LifecycleActionResult="CONTINUE")
            return LaunchReport(
                instance_id,
                "continued",
                f"bootstrap done; {hook} completed with CONTINUE in {group} (warm pool)",
            )
        except (ClientError, BotoCoreError) as exc:
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else ""
            if attempt == tries or code in ("ValidationError", "AccessDenied"):
                raise
            print(f"warm-launch: {mode} attempt {attempt} failed ({exc}); retrying")
            sleep(2.0 * attempt)
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None, *, clients: Callable[[], Any] | None = None) -> int:
    """`runnerfleet-agent-warm-launch {continue,heartbeat}`: exit 0 when done or nothing to
    do; `continue` exits 1 when the action could not be completed (the step fails),
    `heartbeat` always exits 0 (a missed heartbeat never stops a boot)."""
    parser = argparse.ArgumentParser(prog="runnerfleet-agent-warm-launch")
    parser.add_argument("mode", choices=("continue", "heartbeat"))
    args = parser.parse_args(argv)
    try:
        from runnerfleet.agent.imds import DEFAULT_ENDPOINT, ImdsClient

        endpoint = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_ENDPOINT
        instance_id = ImdsClient(endpoint).instance_id()
        if clients is None:
            import boto3

            session = boto3.session.Session(region_name=os.environ.get("RUNNERFLEET_REGION"))
            autoscaling = session.client("autoscaling")
        else:
            autoscaling = clients()
        report = report_bootstrap_progress(
            instance_id=instance_id, autoscaling=autoscaling, mode=args.mode
        )
    except Exception as exc:  # say why; the boot decides what a failure means
        print(f"warm-launch: {args.mode} failed: {exc}")
        return 0 if args.mode == "heartbeat" else 1
    print(f"warm-launch: {report.instance_id}: {report.action}: {report.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
