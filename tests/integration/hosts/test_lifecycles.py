"""Ephemeral lifecycles that AWS accepts, with the real agent against moto, the GitHub emulator
and the stand-in runner:

- an ephemeral host in an Auto Scaling group at its minimum terminates WITHOUT decrementing
  (AWS refuses ShouldDecrementDesiredCapacity=true there); above the minimum it decrements;
  when AWS refuses the decrement anyway (another host reached the minimum first) it falls
  back to terminating without;
- a static ephemeral host stays after its job and takes a fresh registration for the next;
- an ASG host whose registration was already spent is replaced (no decrement).

Every call goes to the sandbox's strict AWS emulator (`strict_aws`, conftest.py), not to bare
moto: it refuses the decrement at the minimum with AWS's error code and message (moto accepts
it) and a registration over 4,096 characters in the Standard tier (the registrar writes the
GitHub emulator's realistic JIT configs), so these tests fail if the agent or the registrar
sends what AWS refuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from hosts_support import OWNER, REPO, Host, launch_runners, make_asg

from runnerfleet.agent.decisions import State
from runnerfleet.controlplane.registrar import Registrar
from runnerfleet.github.emulator import GitHubEmulator

# AWS's answer to a decrement at the group's minimum (TerminateInstanceInAutoScalingGroup), as
# the strict layer gives it (runnerfleet.strictaws, rule 3).
AT_MIN_MESSAGE = (
    "Currently, desiredSize equals minSize ({min}). Terminating instance without replacement "
    "will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag "
    "to false or lower group's min size."
)


def _instance_state(ec2: Any, iid: str) -> str:
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return str(inst["State"]["Name"])


def _group(autoscaling: Any, name: str) -> dict[str, Any]:
    group: dict[str, Any] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]
    return group


@pytest.fixture(scope="module")
def aws(strict_aws: Callable[[str], Any]) -> Callable[[str], Any]:
    """This module's AWS: the sandbox's strict emulator (see the module docstring)."""
    return strict_aws


@pytest.fixture
def strict_autoscaling(strict_url: str) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """An Auto Scaling client of this test's own, against the strict emulator, that records
    every termination request. With `another_host_first` set, just before the next decrement
    the group's minimum is raised to its desired capacity, as when another host took the group
    to its minimum between this agent's look at the sizes and its request: the strict layer
    then refuses the decrement as AWS does."""
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("autoscaling", endpoint_url=strict_url)
    admin = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("autoscaling", endpoint_url=strict_url)
    calls: list[dict[str, Any]] = []
    another_host_first = {"on": False}

    def before(params: dict[str, Any], **_: Any) -> None:
        body = params.get("body", {})
        decrement = str(body.get("ShouldDecrementDesiredCapacity", "")).lower() == "true"
        calls.append({"instance": body.get("InstanceId"), "decrement": decrement})
        if decrement and another_host_first["on"]:
            another_host_first["on"] = False
            [inst] = admin.describe_auto_scaling_instances(InstanceIds=[body["InstanceId"]])[
                "AutoScalingInstances"
            ]
            name = inst["AutoScalingGroupName"]
            admin.update_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=_group(admin, name)["DesiredCapacity"]
            )

    client.meta.events.register(
        "before-call.autoscaling.TerminateInstanceInAutoScalingGroup", before
    )
    client.another_host_first = another_host_first  # type: ignore[attr-defined]
    yield client, calls


def _run_one_ephemeral_job(
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    iid: str,
    autoscaling: Any,
) -> Host:
    assert make_registrar(fleet, ephemeral=True).run_once().ok
    host = hosts(iid, ephemeral=True, autoscaling=autoscaling).start()
    host.wait_for(State.ONLINE)
    job = emulator.enqueue_job(OWNER, REPO, ["self-hosted", "linux"])
    assert host.wait_done() is State.DONE
    assert emulator.job(job)["conclusion"] == "success"
    return host


def test_asg_host_at_minimum_terminates_without_decrement(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    strict_autoscaling: tuple[Any, list[dict[str, Any]]],
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    client, calls = strict_autoscaling
    group, iid = make_asg(aws, fleet, min_size=1, desired=1)
    _run_one_ephemeral_job(emulator, make_registrar, hosts, fleet, iid, client)
    assert calls == [{"instance": iid, "decrement": False}]
    assert "refused" not in agent_logs.text
    assert _instance_state(aws("ec2"), iid) in ("shutting-down", "terminated")
    assert _group(aws("autoscaling"), group)["DesiredCapacity"] == 1  # the group replaces it


def test_asg_host_above_minimum_decrements(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    strict_autoscaling: tuple[Any, list[dict[str, Any]]],
) -> None:
    client, calls = strict_autoscaling
    group, iid = make_asg(aws, fleet, min_size=0, desired=2)
    _run_one_ephemeral_job(emulator, make_registrar, hosts, fleet, iid, client)
    assert calls == [{"instance": iid, "decrement": True}]
    assert _group(aws("autoscaling"), group)["DesiredCapacity"] == 1


def test_refused_decrement_falls_back_to_terminating_without(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    strict_autoscaling: tuple[Any, list[dict[str, Any]]],
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    client, calls = strict_autoscaling
    _group_name, iid = make_asg(aws, fleet, min_size=0, desired=2)
    client.another_host_first["on"] = True
    _run_one_ephemeral_job(emulator, make_registrar, hosts, fleet, iid, client)
    assert calls == [
        {"instance": iid, "decrement": True},
        {"instance": iid, "decrement": False},
    ]
    assert "refused the decrement" in agent_logs.text
    assert AT_MIN_MESSAGE.format(min=2) in agent_logs.text  # the strict layer's refusal
    assert _instance_state(aws("ec2"), iid) in ("shutting-down", "terminated")


def test_asg_host_with_a_spent_registration_is_replaced(
    aws: Callable[[str], Any],
    hosts: Callable[..., Host],
    fleet: str,
    strict_autoscaling: tuple[Any, list[dict[str, Any]]],
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    client, calls = strict_autoscaling
    _group_name, iid = make_asg(aws, fleet, min_size=0, desired=2)
    host = hosts(iid, ephemeral=True, autoscaling=client)
    host.settings.state_file.parent.mkdir(parents=True, exist_ok=True)
    host.settings.state_file.write_text(
        json.dumps({"consumed": f"/{fleet}/runners/{iid}", "kind": "jit", "runner_name": "x"})
    )
    host.start()
    assert host.wait_done() is State.FAILED
    assert "already consumed by this host" in agent_logs.text
    assert calls == [{"instance": iid, "decrement": False}]  # replaced, not scaled in


def test_static_ephemeral_host_stays_and_takes_a_fresh_registration_per_job(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
    agent_logs: pytest.LogCaptureFixture,
) -> None:
    ec2 = aws("ec2")
    [iid] = launch_runners(ec2, fleet, 1)
    assert make_registrar(fleet, ephemeral=True).run_once().ok
    host = hosts(iid, ephemeral=True).start()
    host.wait_for(State.ONLINE)
    first = emulator.enqueue_job(OWNER, REPO, ["self-hosted", "linux"])
    # after its job the host waits for the next registration (second WAITING report)
    host.wait_for(State.WAITING, times=2)
    assert emulator.job(first)["conclusion"] == "success"
    assert _instance_state(ec2, iid) == "running"
    assert not host.settings.state_file.exists()  # the spent registration is forgotten

    assert make_registrar(fleet, ephemeral=True).run_once().ok  # the registrar issues anew
    host.wait_for(State.ONLINE, times=2)
    second = emulator.enqueue_job(OWNER, REPO, ["self-hosted", "linux"])
    host.wait_for(State.WAITING, times=3)
    assert emulator.job(second)["conclusion"] == "success"
    assert _instance_state(ec2, iid) == "running"
    assert "waiting for the next registration" in agent_logs.text


def test_warm_pool_instance_takes_its_registration_only_in_service(
    aws: Callable[[str], Any],
    emulator: GitHubEmulator,
    make_registrar: Callable[..., Registrar],
    hosts: Callable[..., Host],
    fleet: str,
) -> None:
    """While the ASG says Warmed:* the agent leaves the registration alone (the instance may
    be stopped any moment); once InService it consumes it and the runner comes online."""
    ssm = aws("ssm")
    [iid] = launch_runners(aws("ec2"), fleet, 1)
    assert make_registrar(fleet, ephemeral=True).run_once().ok
    host = hosts(iid, ephemeral=True)
    host.imds.lifecycle = "Warmed:Running"
    host.start()
    host.wait_for(State.WAITING, times=2)  # "reading ..." then "warm pool (Warmed:Running)"
    assert ssm.get_parameter(Name=f"/{fleet}/runners/{iid}")["Parameter"]["Name"]
    assert State.REGISTERING.value not in host.agent.health.history  # type: ignore[union-attr]

    host.imds.lifecycle = "InService"
    host.wait_for(State.ONLINE)
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=f"/{fleet}/runners/{iid}")
