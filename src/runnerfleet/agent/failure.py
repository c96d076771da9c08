"""What a host does when its bootstrap fails: get replaced instead of billing as a dud.

`bootstrap.sh`'s ERR trap runs `runnerfleet-agent-bootstrap-failed --step <step>` (this module)
once the agent is installed; before that (the agent's own install failed) it only logs, and
the reconciler finds the host by its missing runner after the boot timeout.

- Auto Scaling host still in Pending:Wait (or Warmed:Pending:Wait, launching into the warm
  pool): the launch lifecycle action (`<group>-launch`, the
  runner-fleet module's hook name) is completed with ABANDON, so the group terminates the
  instance and launches a fresh one.
- Auto Scaling host already past its hook (InService): the instance is marked Unhealthy, and
  the group replaces it (health replacement ignores scale-in protection).
- Static host: tagged `runnerfleet:agent-state=failed` and `runnerfleet:agent-detail=bootstrap
  failed at step <step>`, for the reconciler and the operator (Terraform owns static hosts).

Every outcome is one line on stdout (bootstrap.sh appends it to /var/log/user-data.log).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

STATE_TAG = "runnerfleet:agent-state"
DETAIL_TAG = "runnerfleet:agent-detail"
FAILED = "failed"


@dataclass(frozen=True)
class FailureReport:
    """What was done about a failed bootstrap."""

    instance_id: str
    step: str
    action: str  # "abandoned" | "unhealthy" | "tagged" | "none"
    detail: str


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def report_bootstrap_failure(
    *, instance_id: str, step: str, ec2: Any, autoscaling: Any
) -> FailureReport:
    """Abandon the launch lifecycle action or mark the host for replacement (see module doc)."""
    detail = f"bootstrap failed at step {step}"[:256]
    try:
        found = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])
        members = found.get("AutoScalingInstances", [])
    except (ClientError, BotoCoreError) as exc:
        members = []
        print(f"bootstrap-failed: cannot tell whether {instance_id} is in a group ({exc})")
    if members:
        group = str(members[0]["AutoScalingGroupName"])
        state = str(members[0].get("LifecycleState", ""))
        hook = f"{group}-launch"
        if state.startswith(("Pending", "Warmed:Pending")):
            try:
                autoscaling.complete_lifecycle_action(
                    AutoScalingGroupName=group,
                    LifecycleHookName=hook,
                    InstanceId=instance_id,
                    LifecycleActionResult="ABANDON",
                )
                return FailureReport(
                    instance_id, step, "abandoned", f"{detail}; {hook} abandoned in {group}"
                )
            except (ClientError, BotoCoreError) as exc:
                print(f"bootstrap-failed: could not abandon {hook} ({exc}); marking unhealthy")
        autoscaling.set_instance_health(
            InstanceId=instance_id, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False
        )
        return FailureReport(
            instance_id, step, "unhealthy", f"{detail}; marked Unhealthy in {group} ({state})"
        )
    ec2.create_tags(
        Resources=[instance_id],
        Tags=[{"Key": STATE_TAG, "Value": FAILED}, {"Key": DETAIL_TAG, "Value": detail}],
    )
    return FailureReport(
        instance_id, step, "tagged", f"{detail}; tagged {STATE_TAG}={FAILED} for the reconciler"
    )


def main(
    argv: list[str] | None = None, *, clients: Callable[[], tuple[Any, Any]] | None = None
) -> int:
    """`runnerfleet-agent-bootstrap-failed --step STEP`: report, print one line, exit 0 when
    the failure was reported (1 when even that failed: the reconciler's boot timeout remains)."""
    parser = argparse.ArgumentParser(prog="runnerfleet-agent-bootstrap-failed")
    parser.add_argument("--step", required=True, help="the bootstrap step that failed")
    args = parser.parse_args(argv)
    try:
        from runnerfleet.agent.imds import DEFAULT_ENDPOINT, ImdsClient

        endpoint = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_ENDPOINT
        instance_id = ImdsClient(endpoint).instance_id()
        if clients is None:
            import boto3

            session = boto3.session.Session(region_name=os.environ.get("RUNNERFLEET_REGION"))
            ec2, autoscaling = session.client("ec2"), session.client("autoscaling")
        else:
            ec2, autoscaling = clients()
        report = report_bootstrap_failure(
            instance_id=instance_id, step=args.step, ec2=ec2, autoscaling=autoscaling
        )
    except Exception as exc:  # the last word of a failed boot: say why, never raise
        print(f"bootstrap-failed: could not report the failure of step {args.step}: {exc}")
        return 1
    print(f"bootstrap-failed: {report.instance_id}: {report.action}: {report.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
