"""A fleet world for the benchmarks: moto (in process) + the GitHub emulator + the control plane.

The control plane is built by `runnerfleet.controlplane.compose` exactly as the Lambda
functions build it, on boto3 clients whose calls are counted (`World.aws_calls`); the
GitHub client is the project's own, with its call counters (304 answers apart). The world's
own bookkeeping (what a benchmark does in place of EC2, EventBridge or a host) uses separate,
uncounted clients, so only the control plane's calls are reported.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws

from runnerfleet.controlplane.compose import ControlPlane, compose
from runnerfleet.controlplane.job_table import create_table
from runnerfleet.controlplane.settings import ControlPlaneSettings, table_name
from runnerfleet.github.auth import AppAuth
from runnerfleet.github.client import GitHubClient
from runnerfleet.github.emulator.server import GitHubEmulator

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
DELIVERY_TTL = 600.0
NAME = "bench"
OWNER = "acme"
SECRET = "bench-webhook-secret-value"
# moto modules whose timestamps the control plane reads (ages, boot timeouts, TTLs)
MOTO_CLOCKS = (
    "moto.ec2.models.instances",
    "moto.ssm.models",
    "moto.autoscaling.models",
    "moto.dynamodb.models.table",
)
TAGS = {"runnerfleet:fleet": NAME, "runnerfleet:role": "runner"}


class VirtualClock:
    """The benchmark's time: moved by the event loop, read by the control plane, GitHub and
    moto (its timestamps: launch times, parameter dates, scaling activities)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def utcnow(self) -> datetime.datetime:
        """moto's clock (naive UTC, as moto.core.utils.utcnow)."""
        return datetime.datetime.fromtimestamp(self.now, datetime.UTC).replace(tzinfo=None)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class AwsCalls:
    """Counts AWS API calls of the clients it is attached to, by `service:Operation`."""

    by_op: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name
        client.meta.events.register(
            "before-call", lambda model, **_: self.by_op.update([f"{service}:{model.name}"])
        )
        return client

    @property
    def total(self) -> int:
        return sum(self.by_op.values())


@dataclass
class World:
    clock: VirtualClock
    emulator: GitHubEmulator
    github: GitHubClient
    plane: ControlPlane
    aws_calls: AwsCalls
    raw: Callable[[str], Any]  # uncounted clients for the world's own bookkeeping
    pools: Mapping[str, Sequence[str]]

    def expire(self, delivery_ttl: float = DELIVERY_TTL) -> None:
        """Do what AWS does with time and moto does not, so the replay's cost stays flat:
        DynamoDB TTL deletes expired items, and EC2 forgets terminated instances (AWS lists
        them for about an hour). moto copies the whole table for every transaction, so
        delivery ids are kept `delivery_ttl` seconds here (the replay's duplicates come
        within seconds; the deployed table keeps them 3 days). It also empties moto's
        `instances_tracked` lists: moto appends every model object it ever creates (each
        deep copy of the table a transaction makes for its rollback, every item, instance,
        volume and parameter) to its class's list for its dashboard, so nothing it drops is
        ever freed; the lists are no backend state (moto empties them itself when a mock
        stops), so no answer changes."""
        from moto.core.model_instances import reset_model_data
        from moto.ec2.models import ec2_backends

        reset_model_data()

        ddb, table, now = self.raw("dynamodb"), table_name(NAME), self.clock.now
        from runnerfleet.controlplane.job_table import DELIVERY_TTL_SECONDS

        for page in ddb.get_paginator("scan").paginate(TableName=table):
            for item in page.get("Items", []):
                if "expires_at" not in item:
                    continue
                expires = float(item["expires_at"]["N"])
                if item["pk"]["S"].startswith("webhook-delivery#"):
                    expires -= DELIVERY_TTL_SECONDS - delivery_ttl
                if expires < now:
                    ddb.delete_item(TableName=table, Key={"pk": item["pk"]})
        backend = ec2_backends[ACCOUNT][REGION]
        for rid, res in list(backend.reservations.items()):
            if all(i._state.name == "terminated" for i in res.instances):
                del backend.reservations[rid]

    def signed(self, body: bytes, delivery: str) -> dict[str, str]:
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {
            "X-GitHub-Event": "workflow_job",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sig,
            "Content-Type": "application/json",
        }


def _asg(raw: Callable[[str], Any], pool: str, low: int, high: int) -> None:
    ec2, asg = raw("ec2"), raw("autoscaling")
    lt = ec2.create_launch_template(
        LaunchTemplateName=f"{NAME}-{pool}", LaunchTemplateData={"ImageId": "ami-12c6146b"}
    )["LaunchTemplate"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=f"{NAME}-{pool}",
        MinSize=low,
        MaxSize=high,
        DesiredCapacity=low,
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
        AvailabilityZones=[f"{REGION}a"],
        Tags=[
            {"Key": k, "Value": v, "PropagateAtLaunch": True}
            for k, v in {**TAGS, "runnerfleet:pool": pool}.items()
        ],
    )


@contextmanager
def world(
    pools: Mapping[str, Sequence[str]],
    *,
    max_size: int = 40,
    idle: Mapping[str, int] | None = None,
    ephemeral: bool = True,
    validate: bool = False,
    github_sync_seconds: float = 300.0,
) -> Iterator[World]:
    """moto + emulator + control plane for `pools` ({pool: extra labels})."""
    clock = VirtualClock()
    with ExitStack() as stack:
        for module in MOTO_CLOCKS:
            stack.enter_context(mock.patch(f"{module}.utcnow", clock.utcnow))
        stack.enter_context(mock_aws())
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        made: dict[str, Any] = {}

        def raw(service: str) -> Any:
            if service not in made:
                made[service] = session.client(service)  # type: ignore[call-overload]
            return made[service]

        create_table(raw("dynamodb"), table_name(NAME))
        raw("ssm").put_parameter(
            Name=f"/{NAME}/github/webhook-secret", Value=SECRET, Type="SecureString"
        )
        for pool in pools:
            _asg(raw, pool, 0, max_size)
        emulator = GitHubEmulator(webhook_secret=SECRET, clock=clock, validate=validate)
        emulator.sender.url = None  # deliveries are fed to the control plane by the benchmark
        emulator.start()
        try:
            emulator.add_installation(OWNER)
            github = GitHubClient(
                emulator.url,
                AppAuth(emulator.app_id, emulator.app_private_key_pem),
                clock=clock,
                sleep=clock.advance,
            )
            calls = AwsCalls()
            counted_session = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
            )

            def clients(service: str) -> Any:
                return calls.attach(counted_session.client(service))  # type: ignore[call-overload]

            settings = ControlPlaneSettings(
                name=NAME,
                table=table_name(NAME),
                mode="autoscaled",
                pool_labels={p: tuple(labels) for p, labels in pools.items()},
                pool_idle=dict(idle or {}),
                ephemeral=ephemeral,
                github_owner=OWNER,
                github_api_url=emulator.url,
                github_url=emulator.url,
                github_sync_seconds=github_sync_seconds,
            )
            plane = compose(settings, clients, github=github, webhook_secret=SECRET, clock=clock)
            yield World(clock, emulator, github, plane, calls, raw, pools)
        finally:
            emulator.stop()


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[k], 3)


def dump(result: Mapping[str, Any]) -> None:
    print(json.dumps(result, indent=2, sort_keys=True))
