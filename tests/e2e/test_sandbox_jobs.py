"""End to end: jobs run in the sandbox as they would on AWS, with no step after `up`.

`up` in autoscaled mode with two pools (different labels, min 0). Jobs queued in the GitHub
emulator are delivered as webhooks to the webhook function's URL; the functions run from the
deployed zip under Python 3.12 with their roles' credentials; EC2 state changes reach the
registrar through EventBridge; simulated hosts boot and their runners take the jobs; ephemeral
runners end their instances and the reconcile schedule scales in what is left idle. The clock
runs 10x (the schedules, the host boot model and the jobs' durations) and idle hosts go after
20 s (`idle_grace_seconds`); a job whose webhooks were lost is asked of GitHub after 30 s
(`job_recheck_seconds`, 300 by default), so the test stays within minutes.

Timings are printed (queue -> start p50/p95, last completion -> pools at their minimum), never
asserted. Waits poll the emulators' state (an event), with a deadline that only bounds a hang.
The polls are cheap reads (one HTTP client to the GitHub emulator, boto3 clients made once):
`runnerfleet jobs` is a full CLI process (about a second of CPU), so it is asked once the
state is reached, for the assertions, not on every poll (on a loaded machine the polls would
otherwise take the CPU the sandbox needs).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sandbox_project import Project

from runnerfleet.github.emulator import EmulatorControl

# One sandbox for the file (module fixture): the AccessDenied test runs on the fleet that the
# jobs test left at its minimum, which saves an `up`. One xdist group keeps both on one worker,
# in file order.
pytestmark = [pytest.mark.terraform, pytest.mark.emulator, pytest.mark.xdist_group("e2e-jobs")]

NAME = "e2e-jobs"
CONFIG = f"""
name = "{NAME}"
[runners]
mode = "autoscaled"
ephemeral = true
[[runners.pools]]
name = "small"
labels = ["small"]
min_size = 0
max_size = 4
[[runners.pools]]
name = "large"
labels = ["large"]
min_size = 0
max_size = 4
[control_plane]
idle_grace_seconds = 20
job_recheck_seconds = 30
"""
CLOCK = {"RUNNERFLEET_SANDBOX_CLOCK": "10", "RUNNERFLEET_SANDBOX_BOOT_SECONDS": "20"}
# The sandbox enforces IAM by default; RUNNERFLEET_SANDBOX_IAM=off in the test's environment
# (a debugging aid) reaches the sandbox too. The AccessDenied test needs it on.
if os.environ.get("RUNNERFLEET_SANDBOX_IAM"):
    CLOCK["RUNNERFLEET_SANDBOX_IAM"] = os.environ["RUNNERFLEET_SANDBOX_IAM"]
OWNER, REPO = "example-org", "app"


def wait_for(
    what: str, check: Callable[[], bool], deadline_s: float, log: Callable[[], str]
) -> None:
    """Poll `check` (the emulators' state) until it holds; the deadline only bounds a hang."""
    deadline = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {deadline_s:.0f} s; log tail:\n{log()}")
        time.sleep(0.5)


def control_log(project: Project, since: int = 0) -> str:
    """The tail of the control-plane log, of what was written after byte `since`."""
    path = project.root / ".runnerfleet" / "control-plane.log"
    if not path.exists():
        return "(no log)"
    return path.read_bytes()[since:].decode(errors="replace")[-6000:]


def log_size(project: Project) -> int:
    path = project.root / ".runnerfleet" / "control-plane.log"
    return path.stat().st_size if path.exists() else 0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """`up` of the two-pool autoscaled fleet, shared by the file's tests; stopped at the end."""
    from runnerfleet.sandbox import Sandbox

    root = tmp_path_factory.mktemp("e2e-jobs")
    project = Project(root, env=dict(CLOCK))
    try:
        project.write_config(CONFIG)
        up = project.run("up", "--json")
        assert up.returncode == 0, up.stderr[-4000:]
        yield project
    finally:
        Sandbox(root / ".runnerfleet").stop()


def queue(project: Project, labels: str, count: int, duration: str = "20s") -> list[int]:
    out = project.run_json(
        "sandbox", "queue", "--labels", labels, "--count", str(count), "--duration", duration
    )
    return [int(i) for i in out["queued"]]


def jobs_by_id(project: Project) -> dict[int, dict[str, Any]]:
    return {int(j["id"]): j for j in project.run_json("jobs")["jobs"]}


@dataclass
class View:
    """The sandbox's state, read cheaply: clients made once, reused by every poll."""

    github: EmulatorControl
    ec2: Any
    asg: Any
    ssm: Any

    @classmethod
    def of(cls, project: Project) -> View:
        box = project.sandbox
        github = EmulatorControl(box.github_info()["url"])
        return cls(github, box.client("ec2"), box.client("autoscaling"), box.client("ssm"))

    def completed(self, ids: set[int]) -> bool:
        return all(self.github.job(i)["status"] == "completed" for i in ids)


def fleet_instances(view: View) -> list[str]:
    found = view.ec2.describe_instances(
        Filters=[
            {"Name": "tag:runnerfleet:fleet", "Values": [NAME]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "shutting-down"]},
        ]
    )
    return [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]


def at_minimum(view: View) -> bool:
    groups = view.asg.describe_auto_scaling_groups()
    mine = [g for g in groups["AutoScalingGroups"] if g["AutoScalingGroupName"].startswith(NAME)]
    return (
        len(mine) == 2
        and all(g["DesiredCapacity"] == g["MinSize"] == 0 and not g["Instances"] for g in mine)
        and not fleet_instances(view)
    )


def registration_parameters(view: View) -> list[str]:
    pages = view.ssm.get_paginator("get_parameters_by_path").paginate(Path=f"/{NAME}/runners")
    return [p["Name"] for page in pages for p in page["Parameters"]]


def fleet_runners(view: View) -> list[str]:
    return [r.name for r in view.github.runners(OWNER) if r.name.startswith(f"{NAME}-")]


def run_round(project: Project, view: View, label: str) -> dict[int, dict[str, Any]]:
    """Queue 15+15 matching jobs and 5 that match no pool; wait until the 30 completed and
    the pools are back at their minimum; check nothing is left behind; print timings."""
    small = queue(project, "self-hosted,small", 15)
    large = queue(project, "self-hosted,large", 15)
    stray = queue(project, "self-hosted,gpu", 5)
    ours = set(small) | set(large)

    wait_for(f"{label}: 30 jobs completing", lambda: view.completed(ours), 600,
             lambda: control_log(project))  # fmt: skip
    done_at = time.time()
    wait_for(f"{label}: pools back at min 0", lambda: at_minimum(view), 600,
             lambda: control_log(project))  # fmt: skip
    scaled_in = time.time()
    # A host that went before reading its registration leaves it to the registrar's
    # terminated event (EventBridge -> SQS -> registrar), which may still be on its way when
    # the groups are empty; its GitHub runner goes in the next reconcile pass.
    wait_for(f"{label}: no registration or runner left behind",
             lambda: not registration_parameters(view) and not fleet_runners(view), 120,
             lambda: control_log(project))  # fmt: skip

    jobs = jobs_by_id(project)  # what `runnerfleet jobs` says, once the state is reached
    for i in stray:  # no pool has their labels: they stay queued and say so
        assert jobs[i]["status"] == "queued", jobs[i]
        assert jobs[i]["pool"] is None
        assert jobs[i]["reason"].startswith("no pool has its labels"), jobs[i]
    for i in small:
        assert jobs[i]["pool"] == "small" and jobs[i]["conclusion"] == "success", jobs[i]
    for i in large:
        assert jobs[i]["pool"] == "large" and jobs[i]["conclusion"] == "success", jobs[i]
    runners = [jobs[i]["runner"] for i in ours]
    assert all(runners), "a completed job has no runner"
    assert len(set(runners)) == len(runners), "a runner ran two jobs (ephemeral runners run one)"
    assert fleet_instances(view) == []

    waits = sorted(jobs[i]["started_at"] - jobs[i]["queued_at"] for i in ours)
    p95 = waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))]
    print(json.dumps({
        "round": label, "jobs": len(ours),
        "queue_to_start_p50_s": round(statistics.median(waits), 2),
        "queue_to_start_p95_s": round(p95, 2),
        "last_completion_to_min_s": round(scaled_in - done_at, 2),
        "clock_factor": float(CLOCK["RUNNERFLEET_SANDBOX_CLOCK"]),
    }))  # fmt: skip
    return jobs


def test_jobs_run_end_to_end_and_survive_lost_and_repeated_webhooks(fleet: Project) -> None:
    view = View.of(fleet)
    run_round(fleet, view, "clean")

    # 30% of the deliveries lost, 10% delivered twice: the reconcile schedule catches up,
    # the job table and the delivery ids keep one runner per job.
    fleet.sandbox.set_delivery_faults(drop=0.3, duplicate=0.1, seed=7)
    try:
        run_round(fleet, view, "faults")
        status = fleet.sandbox.runtime_status()
        assert status["deliveries"]["dropped"] > 0 and status["deliveries"]["duplicated"] > 0
    finally:
        fleet.sandbox.set_delivery_faults()


def test_a_missing_permission_fails_with_access_denied_naming_it(fleet: Project) -> None:
    """Take autoscaling:SetDesiredCapacity out of the webhook role: the webhook function's
    scale-out is refused by IAM, as in AWS, and the log names the action."""
    if os.environ.get("RUNNERFLEET_SANDBOX_IAM") == "off":
        pytest.fail("RUNNERFLEET_SANDBOX_IAM=off: this test needs IAM enforced")
    iam = fleet.sandbox.client("iam")
    role = f"{NAME}-webhook"
    (policy_name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    original = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    doc = json.loads(original) if isinstance(original, str) else json.loads(json.dumps(original))
    removed = 0
    for stmt in doc["Statement"]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        kept = [a for a in actions if a != "autoscaling:SetDesiredCapacity"]
        removed += len(actions) - len(kept)
        stmt["Action"] = kept or ["autoscaling:DescribeAutoScalingGroups"]
    assert removed == 1, doc
    groups = fleet.sandbox.client("autoscaling").describe_auto_scaling_groups()
    assert all(g["DesiredCapacity"] == 0 for g in groups["AutoScalingGroups"]), groups
    # The webhook decides from the control plane's view of the pool (its table), not from
    # Auto Scaling: when the faults round lost the `completed` webhook of the last job, the
    # view still says desired 1 (an idle host, so no scale-out is needed) until a reconcile
    # pass refreshes it. Wait for the view to say 0, or the webhook rightly does not scale.
    ddb = fleet.sandbox.client("dynamodb")

    def view_at_zero() -> bool:
        item = ddb.get_item(
            TableName=f"{NAME}-control-plane", Key={"pk": {"S": "pool#small"}},
            ConsistentRead=True,
        ).get("Item", {})  # fmt: skip
        return bool(item.get("desired", {}).get("N") == "0")

    wait_for("the control plane's view of pool small at desired 0", view_at_zero, 120,
             lambda: control_log(fleet))  # fmt: skip
    since = log_size(fleet)  # only what this test causes counts
    iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(doc))
    try:
        # A new `up` reloads the runtime; here the worker is restarted by reloading it, so the
        # function gets fresh credentials under the changed policy (IAM is evaluated per call
        # either way).
        fleet.sandbox.runtime_call("POST", "/reload")
        queue(fleet, "self-hosted,small", 1)

        def denied() -> bool:
            log = control_log(fleet, since)
            return "AccessDenied" in log and "autoscaling:SetDesiredCapacity" in log

        wait_for("AccessDenied in the webhook's log", denied, 120,
                 lambda: control_log(fleet, since))  # fmt: skip
        groups = fleet.sandbox.client("autoscaling").describe_auto_scaling_groups()
        assert all(g["DesiredCapacity"] == 0 for g in groups["AutoScalingGroups"])
    finally:  # a later test on this fleet gets the role as deployed
        original_text = original if isinstance(original, str) else json.dumps(original)
        iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=original_text)
