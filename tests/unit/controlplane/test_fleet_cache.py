"""Fleet's cache of EC2's view (runnerfleet.controlplane.fleet, module docstring): which passes
call DescribeInstances, and for which instances. Counted on the EC2 client (botocore's
`before-parameter-build` event: every DescribeInstances request, each page included), never timed.

Against moto: an Auto Scaling group's instances are `InService`, `Healthy` and `running` as
soon as they are launched, so "booting" here is a host whose runner is not online yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runnerfleet.controlplane import fleet as fleet_module
from runnerfleet.controlplane.fleet import Fleet, GroupInfo, HostInfo
from runnerfleet.vocabulary import RUNNER_ID_TAG, pool_runner_name

REGION = "us-east-1"
TAGS = {"runnerfleet:fleet": "rf", "runnerfleet:role": "runner"}


@dataclass
class World:
    asg: Any
    ec2: Any
    lt: str
    calls: list[list[str]] = field(default_factory=list)  # instance ids asked, per request

    def count(self, params: dict[str, Any], **_: Any) -> None:
        ids = [
            v for f in params.get("Filters", []) if f["Name"] == "instance-id" for v in f["Values"]
        ]
        self.calls.append(sorted(ids))

    def taken(self) -> list[list[str]]:
        """The DescribeInstances requests since the last call (ids asked; [] = by filter)."""
        out, self.calls = self.calls, []
        return out

    def group(self, pool: str, desired: int) -> None:
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=f"rf-{pool}",
            LaunchTemplate={"LaunchTemplateId": self.lt, "Version": "$Latest"},
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=desired,
            AvailabilityZones=[f"{REGION}a"],
            Tags=[
                {"Key": k, "Value": v, "PropagateAtLaunch": True}
                for k, v in {**TAGS, "runnerfleet:pool": pool}.items()
            ],
        )

    def ids(self, pool: str) -> list[str]:
        (g,) = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"rf-{pool}"])[
            "AutoScalingGroups"
        ]
        return sorted(str(i["InstanceId"]) for i in g["Instances"])


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        asg = boto3.client("autoscaling", region_name=REGION)
        lt = ec2.create_launch_template(
            LaunchTemplateName="rf-runner",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]
        w = World(asg, ec2, str(lt))
        ec2.meta.events.register("before-parameter-build.ec2.DescribeInstances", w.count)
        yield w


def name(iid: str, pool: str = "default") -> str:
    return pool_runner_name("rf", pool, iid)


def by_id(hosts: list[HostInfo]) -> dict[str, HostInfo]:
    return {h.instance.id: h for h in hosts}


def test_booting_then_tagged_then_online_then_settled(world: World) -> None:
    world.group("default", 1)
    (iid,) = world.ids("default")
    fleet = Fleet("rf", world.asg, world.ec2)
    # first pass, no runner online: the static-host lookup (by filter) and the host by id
    (h,) = fleet.hosts()
    assert world.taken() == [[], [iid]]
    assert h.described and h.instance.launched_at is not None and RUNNER_ID_TAG not in h.tags
    # booting: described every pass, so the registrar's tag is seen the pass after it is set
    world.ec2.create_tags(Resources=[iid], Tags=[{"Key": RUNNER_ID_TAG, "Value": "41"}])
    (h,) = fleet.hosts()
    assert world.taken() == [[iid]]
    assert h.tags[RUNNER_ID_TAG] == "41"
    # its runner comes online (idle or busy): settled from the next pass on, nothing described
    fleet.runners_online([name(iid)])
    for _ in range(3):
        (h,) = fleet.hosts()
        assert world.taken() == []
    assert h.described and h.tags[RUNNER_ID_TAG] == "41"  # the described view is kept
    # its runner goes offline: described again from the next sync on
    fleet.runners_online([])
    fleet.hosts()
    assert world.taken() == [[iid]]


def test_online_hosts_of_a_new_process_are_settled_without_describing(world: World) -> None:
    world.group("default", 3)
    busy, idle, booting = world.ids("default")
    fleet = Fleet("rf", world.asg, world.ec2)
    fleet.runners_online([name(busy), name(idle)], busy=[name(busy)])
    hosts = by_id(fleet.hosts())
    assert world.taken() == [[], [booting]]  # static lookup; only the host with no runner
    for iid in (busy, idle):
        h = hosts[iid]
        assert not h.described and h.tags == {}
        assert (h.instance.state, h.instance.pool, h.instance.runner_name) == (
            "running",
            "default",
            name(iid),
        )
        assert h.instance.launched_at is None and h.asg_name == "rf-default"
    assert hosts[booting].described and hosts[booting].instance.launched_at is not None
    # next pass: the idle one is described (its idle time needs the launch time), the busy
    # one is not; the booting one is described as every pass
    hosts = by_id(fleet.hosts())
    assert world.taken() == [sorted([idle, booting])]
    assert hosts[idle].described and hosts[idle].instance.launched_at is not None
    assert not hosts[busy].described
    fleet.hosts()
    assert world.taken() == [[booting]]
    # the busy runner goes idle: its host is described on the next pass
    fleet.runners_online([name(busy), name(idle)], busy=[])
    fleet.hosts()
    assert world.taken() == [sorted([busy, booting])]


def test_inferred_idle_hosts_described_in_batches(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet_module, "INFERRED_BATCH", 2)
    world.group("default", 5)
    ids = world.ids("default")
    fleet = Fleet("rf", world.asg, world.ec2)
    fleet.runners_online([name(i) for i in ids])
    fleet.hosts()
    assert world.taken() == [[]]
    fleet.hosts()
    fleet.hosts()
    fleet.hosts()
    assert world.taken() == [ids[0:2], ids[2:4], ids[4:5]]
    fleet.hosts()
    assert world.taken() == []


def test_lifecycle_or_health_change_is_described(world: World) -> None:
    world.group("default", 2)
    a, b = world.ids("default")
    fleet = Fleet("rf", world.asg, world.ec2)
    fleet.runners_online([name(a), name(b)], busy=[name(a), name(b)])
    fleet.hosts()
    assert world.taken() == [[]]
    world.asg.enter_standby(
        InstanceIds=[a], AutoScalingGroupName="rf-default", ShouldDecrementDesiredCapacity=True
    )
    hosts = by_id(fleet.hosts())
    assert world.taken() == [[a]]  # Standby: not settled, described
    assert hosts[a].described and not hosts[b].described
    fleet.hosts()
    assert world.taken() == [[a]]  # and every pass while it is not InService
    world.asg.exit_standby(InstanceIds=[a], AutoScalingGroupName="rf-default")
    fleet.hosts()
    assert world.taken() == [[a]]  # changed back: described once more, then settled
    fleet.hosts()
    assert world.taken() == []
    world.asg.set_instance_health(InstanceId=b, HealthStatus="Unhealthy")
    hosts = by_id(fleet.hosts())
    assert world.taken() == [[b]]  # unhealthy: not settled, described
    assert hosts[b].described


def test_static_host_found_first_and_described_every_pass(world: World) -> None:
    world.group("default", 1)
    (member,) = world.ids("default")
    (static,) = world.ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": k, "Value": v}
                    for k, v in {
                        **TAGS,
                        "runnerfleet:pool": "static",
                        "runnerfleet:runner-name": "rf-runner-01",
                    }.items()
                ],
            }
        ],
    )["Instances"]
    sid = str(static["InstanceId"])
    fleet = Fleet("rf", world.asg, world.ec2)
    fleet.runners_online([name(member), "rf-runner-01"], busy=[name(member), "rf-runner-01"])
    hosts = by_id(fleet.hosts())
    assert world.taken() == [[]]  # the static lookup finds it; the member is settled
    assert hosts[sid].asg_name is None and hosts[sid].instance.runner_name == "rf-runner-01"
    assert hosts[sid].described and hosts[sid].instance.launched_at is not None
    for _ in range(2):
        assert set(by_id(fleet.hosts())) == {member, sid}
        assert world.taken() == [[sid]]  # by id, every pass, though its runner is online
    world.ec2.terminate_instances(InstanceIds=[sid])
    assert set(by_id(fleet.hosts())) == {member}
    assert world.taken() == [[sid]]
    fleet.hosts()
    assert world.taken() == []


def test_rolling_refresh_redescribes_settled_hosts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet_module, "REFRESH_BATCH", 2)
    world.group("default", 3)
    ids = world.ids("default")
    fleet = Fleet("rf", world.asg, world.ec2)
    fleet.runners_online([name(i) for i in ids], busy=[name(i) for i in ids])
    groups: dict[str, GroupInfo] = fleet.groups()
    fleet.hosts(groups)  # pass 1: all settled undescribed (busy)
    assert world.taken() == [[]]
    for _ in range(fleet_module.REFRESH_PASSES - 1):  # passes 2 .. REFRESH_PASSES
        fleet.hosts(groups)
    assert world.taken() == []
    # REFRESH_PASSES passes after they were settled: re-described, REFRESH_BATCH a pass
    hosts = by_id(fleet.hosts(groups))
    assert world.taken() == [ids[0:2]]
    assert [hosts[i].described for i in ids] == [True, True, False]
    hosts = by_id(fleet.hosts(groups))
    assert world.taken() == [ids[2:3]]
    assert all(h.described and h.instance.launched_at is not None for h in hosts.values())
    fleet.hosts(groups)
    assert world.taken() == []
