"""What the configured fleet costs: the price table, the monthly floor, cost per job-minute.

The price table is `data/prices.json` (AWS and GitHub list prices, with their source and the
date they were checked). Everything here is pure: `shape_from_config` reduces a FleetConfig
to the billable things it deploys, `estimate` prices them. Prices are on-demand list prices
in USD, 730 hours a month, no free tier, no tax, no discounts, spot not priced.

"Floor" is what the fleet costs with no job running and no data moving: instances that are
always up, their volumes, NAT, public IPv4 addresses, interface endpoints, the control
plane's scheduled Lambda runs, idle logs, metrics and alarms. Data (NAT processing, internet
egress, endpoint processing) is priced per GB next to it, so `runnerfleet cost` can show
when interface endpoints pay off.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runnerfleet.config import FleetConfig

PRICES_FILE = Path(__file__).parent / "data" / "prices.json"
MINUTES_PER_HOUR = 60

# ---- assumptions about what the deployed fleet does at idle (documented in the output) ----
# CloudWatch agent metrics (infra/modules/monitoring, agent_config): cpu 4, mem 1, disk 2,
# diskio 3 measurements (one disk device assumed). Each is published with the host's full
# dimension set and aggregated by InstanceId (both unique per host), by AutoScalingGroupName
# (one per pool) and with no dimension (one per fleet).
AGENT_MEASUREMENTS = 10
# The control plane's own metric (runnerfleet/QueuedJobs per fleet).
CONTROL_PLANE_METRICS = 1
# The registrar's periodic scan (control-plane scan_schedule, default rate(5 minutes)).
SCHEDULED_INVOCATIONS_PER_MONTH = 730 * 12
LAMBDA_MEMORY_GB = 0.25
LAMBDA_SECONDS_PER_RUN = 1.0
LAMBDA_LOG_KB_PER_RUN = 2.0
# An idle runner host ships little: syslog, the runner's diag log, the agent's own log.
IDLE_LOG_MB_PER_HOST_MONTH = 100.0
# Alarms (infra/modules/monitoring/alarms.tf): per static instance or per pool: CPU high,
# status check; per NAT gateway: packets dropped, port allocation; one queue-length alarm.
ALARMS_PER_HOST_OR_POOL = 2
ALARMS_PER_NAT_GATEWAY = 2
ALARMS_PER_FLEET = 1
# The state file and the control plane's table stay far below a GB.
STATE_GB = 0.01
TABLE_GB = 0.01
# Interface endpoints of infra/modules/network (ssm, ssmmessages, ec2messages, ecr.api,
# ecr.dkr, logs, sts); the count is kept in the price table as interface_endpoint_services.


class UnknownRegion(ValueError):
    """The price table has no prices for this region."""


class UnknownInstanceType(ValueError):
    """The price table has no price for this instance type in this region."""


@functools.cache
def prices() -> dict[str, Any]:
    """The price table (data/prices.json), parsed once."""
    data: dict[str, Any] = json.loads(PRICES_FILE.read_text(encoding="utf-8"))
    return data


def priced_regions() -> frozenset[str]:
    """Regions the price table carries."""
    return frozenset(prices()["regions"])


def _region(region: str) -> dict[str, Any]:
    table = prices()["regions"]
    if region not in table:
        raise UnknownRegion(
            f"no prices for region {region!r}; the price table "
            f"(src/runnerfleet/data/prices.json) has {', '.join(sorted(table))}"
        )
    r: dict[str, Any] = table[region]
    return r


def _split(instance_type: str) -> tuple[str, str]:
    family, _, size = instance_type.partition(".")
    return family, size


def known_instance_types(region: str) -> frozenset[str]:
    """Every instance type the price table prices in `region` (raises UnknownRegion)."""
    fams = prices()["ec2"]["families"]
    priced = _region(region)["ec2_large_hour"]
    return frozenset(f"{fam}.{size}" for fam in priced for size in fams[fam]["sizes"])


def instance_architecture(instance_type: str) -> str | None:
    """`x86_64` or `arm64` for a known family, None otherwise."""
    family, _ = _split(instance_type)
    fam = prices()["ec2"]["families"].get(family)
    return None if fam is None else str(fam["arch"])


def instance_vcpus(instance_type: str) -> int:
    """vCPUs of a known instance type (raises UnknownInstanceType)."""
    family, size = _split(instance_type)
    ec2 = prices()["ec2"]
    fam = ec2["families"].get(family)
    if fam is None or size not in fam["sizes"]:
        raise UnknownInstanceType(f"{instance_type!r} is not in the price table")
    table = ec2["vcpus"]["burstable" if fam["burstable"] else "standard"]
    return int(table[size])


def instance_hourly(region: str, instance_type: str) -> float:
    """On-demand Linux price per hour (raises UnknownRegion / UnknownInstanceType)."""
    if instance_type not in known_instance_types(region):
        raise UnknownInstanceType(
            f"no price for {instance_type!r} in {region}; priced families: "
            + ", ".join(sorted(prices()["ec2"]["families"]))
        )
    family, size = _split(instance_type)
    large = float(_region(region)["ec2_large_hour"][family])
    return large * float(prices()["ec2"]["size_factor"][size])


def github_hosted_per_minute(instance_type: str) -> tuple[float, str]:
    """GitHub-hosted Linux rate for the same vCPU count and architecture, and its label."""
    vcpus = max(2, instance_vcpus(instance_type))
    arch = instance_architecture(instance_type) or "x86_64"
    rates = prices()["github_hosted_per_minute"][arch]
    cores = min((int(c) for c in rates if int(c) >= vcpus), default=max(int(c) for c in rates))
    return float(rates[str(cores)]), f"GitHub-hosted Linux {cores}-core ({arch})"


# ---- what the config deploys -------------------------------------------------------------


@dataclass(frozen=True)
class HostGroup:
    """Runner hosts of one kind: the static instances, or one autoscaled pool."""

    name: str
    instance_type: str
    always_on: int  # instances up with no job (static count, or pool min_size)
    max_size: int  # the most instances the group runs
    autoscaled: bool


@dataclass(frozen=True)
class FleetShape:
    """The billable things a config deploys (derived from FleetConfig by shape_from_config)."""

    name: str
    region: str
    availability_zones: int
    nat: str  # single | per_az | instance
    interface_endpoints: bool
    flow_logs: bool
    hosts: tuple[HostGroup, ...]
    volume_type: str
    volume_gb: int
    volume_iops: int | None
    volume_throughput: int | None
    detailed_monitoring: bool
    control_plane: bool
    log_retention_days: int


def shape_from_config(cfg: FleetConfig) -> FleetShape:
    r = cfg.runners
    if r.mode == "static":
        hosts: tuple[HostGroup, ...] = (
            HostGroup("static", r.instance_type, r.count, r.count, autoscaled=False),
        )
    else:
        hosts = tuple(
            HostGroup(
                p.name,
                (p.instance_types or [r.instance_type])[0],
                p.min_size,
                p.max_size,
                autoscaled=True,
            )
            for p in r.pools
        )
    return FleetShape(
        name=cfg.name,
        region=cfg.aws.region,
        availability_zones=len(cfg.network.availability_zones),
        nat=str(cfg.network.nat),
        interface_endpoints=cfg.network.interface_endpoints,
        flow_logs=cfg.network.flow_logs,
        hosts=hosts,
        volume_type=r.volume_type,
        volume_gb=r.volume_size,
        volume_iops=r.volume_iops,
        volume_throughput=r.volume_throughput,
        detailed_monitoring=cfg.monitoring.detailed_monitoring,
        control_plane=cfg.control_plane.enabled,
        log_retention_days=cfg.monitoring.log_retention_days,
    )


# ---- the estimate ------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One resource line of the monthly floor."""

    resource: str
    monthly: float
    detail: str


@dataclass
class Estimate:
    region: str
    as_of: str
    lines: list[Line]
    floor_total: float
    utilisation: float
    job_minutes: float
    monthly_total: float  # floor plus the instance time the job minutes need above it
    per_job_minute: float | None
    github_rate: float
    github_label: str
    github_monthly: float
    break_even_job_minutes: float | None  # monthly job minutes above which self-hosted is cheaper
    data_per_gb: dict[str, float]
    endpoints: dict[str, Any]
    assumptions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["floor_by_resource"] = {ln.resource: round(ln.monthly, 4) for ln in self.lines}
        return out


def _volume_month(shape: FleetShape, p: dict[str, Any]) -> float:
    vt = shape.volume_type
    cost = shape.volume_gb * float(p["ebs_gb_month"][vt])
    if vt == "gp3":
        cost += max(0, (shape.volume_iops or 3000) - 3000) * float(p["ebs_iops_month"]["gp3"])
        cost += max(0, (shape.volume_throughput or 125) - 125) * float(
            p["gp3_throughput_mibps_month"]
        )
    elif vt in ("io1", "io2"):
        cost += (shape.volume_iops or 100) * float(p["ebs_iops_month"][vt])
    return cost


def _nat_count(shape: FleetShape) -> int:
    return shape.availability_zones if shape.nat == "per_az" else 1


def estimate(
    shape: FleetShape, utilisation: float = 0.3, job_minutes: float | None = None
) -> Estimate:
    """Price the floor of `shape` and the cost per job-minute at `utilisation`.

    `utilisation` is the share of runner-instance time spent running jobs (0 < u <= 1).
    `job_minutes` is the month's job minutes; by default the fleet's full capacity (static
    count, or the pools' max_size, running all month) times `utilisation`.
    """
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be above 0 and at most 1, got {utilisation}")
    if job_minutes is not None and job_minutes < 0:
        raise ValueError(f"job minutes must not be negative, got {job_minutes}")
    table = prices()
    hours = float(table["hours_per_month"])
    p = _region(shape.region)
    lines: list[Line] = []

    def add(resource: str, monthly: float, detail: str) -> None:
        lines.append(Line(resource, monthly, detail))

    always_on = sum(h.always_on for h in shape.hosts)
    inst = sum(
        h.always_on * instance_hourly(shape.region, h.instance_type) * hours for h in shape.hosts
    )
    add(
        "instances",
        inst,
        ", ".join(
            f"{h.always_on} x {h.instance_type} ({h.name}) at "
            f"${instance_hourly(shape.region, h.instance_type):.4f}/h"
            for h in shape.hosts
        ),
    )
    vol_each = _volume_month(shape, p)
    add("volumes", always_on * vol_each, f"{always_on} x {shape.volume_gb} GB {shape.volume_type}")

    nat_n = _nat_count(shape)
    ni = table["nat_instance"]
    if shape.nat == "instance":
        nat_inst = instance_hourly(shape.region, ni["instance_type"]) * hours
        nat_vol = ni["volume_gb"] * float(p["ebs_gb_month"][ni["volume_type"]])
        add(
            "nat",
            nat_inst + nat_vol,
            f"1 NAT instance {ni['instance_type']} + {ni['volume_gb']} GB {ni['volume_type']}",
        )
    else:
        add(
            "nat",
            nat_n * float(p["nat_gateway_hour"]) * hours,
            f"{nat_n} NAT gateway(s) at ${p['nat_gateway_hour']}/h",
        )
    # A NAT instance has the Elastic IP on its NAT interface and an automatic public address
    # on its first interface (infra/modules/network/nat_instance.tf).
    ipv4_n = nat_n + (1 if shape.nat == "instance" else 0)
    add(
        "public_ipv4",
        ipv4_n * float(p["public_ipv4_hour"]) * hours,
        f"{nat_n} Elastic IP(s) of the NAT"
        + (" + the NAT instance's own address" if shape.nat == "instance" else "")
        + f" at ${p['public_ipv4_hour']}/h",
    )
    services = int(table["interface_endpoint_services"])
    endpoint_month = (
        services * shape.availability_zones * float(p["interface_endpoint_az_hour"]) * hours
    )
    add(
        "endpoints",
        endpoint_month if shape.interface_endpoints else 0.0,
        f"{services} interface endpoints x {shape.availability_zones} AZ"
        if shape.interface_endpoints
        else "no interface endpoints (the S3 gateway endpoint is free)",
    )
    runs = SCHEDULED_INVOCATIONS_PER_MONTH if shape.control_plane else 0
    lam = runs / 1e6 * float(p["lambda_request_million"]) + runs * LAMBDA_MEMORY_GB * (
        LAMBDA_SECONDS_PER_RUN
    ) * float(p["lambda_gb_second"])
    add("lambda", lam, f"{runs} scheduled runs x {LAMBDA_SECONDS_PER_RUN:g} s x 256 MB")
    log_gb = (
        always_on * IDLE_LOG_MB_PER_HOST_MONTH / 1024
    ) + runs * LAMBDA_LOG_KB_PER_RUN / 1024**2
    stored_gb = log_gb * min(shape.log_retention_days, 3653) / 30
    logs = log_gb * float(p["logs_ingest_gb"]) + stored_gb * float(p["logs_storage_gb_month"])
    add("logs", logs, f"{log_gb:.3f} GB/month ingested at idle, {shape.log_retention_days} d kept")
    pools = sum(1 for h in shape.hosts if h.autoscaled)
    metrics_n = (
        always_on * 2 * AGENT_MEASUREMENTS
        + (pools + 1) * AGENT_MEASUREMENTS * (1 if always_on else 0)
        + (CONTROL_PLANE_METRICS if shape.control_plane else 0)
    )
    detailed_n = (
        always_on * int(p["detailed_monitoring_metrics_per_instance"])
        if shape.detailed_monitoring
        else 0
    )
    add(
        "metrics",
        (metrics_n + detailed_n) * float(p["custom_metric_month"]),
        f"{metrics_n} custom metrics"
        + (
            f" + detailed monitoring of {always_on} instance(s)"
            if shape.detailed_monitoring
            else ""
        ),
    )
    static_hosts = sum(h.always_on for h in shape.hosts if not h.autoscaled)
    alarms_n = (
        ALARMS_PER_HOST_OR_POOL * (static_hosts + pools)
        + (ALARMS_PER_NAT_GATEWAY * nat_n if shape.nat != "instance" else 0)
        + ALARMS_PER_FLEET
    )
    add("alarms", alarms_n * float(p["standard_alarm_month"]), f"{alarms_n} standard alarms")
    storage = STATE_GB * float(p["s3_standard_gb_month"]) + (
        TABLE_GB * float(p["dynamodb_storage_gb_month"]) if shape.control_plane else 0.0
    )
    add("state_and_tables", storage, "state bucket and control-plane table (well under 1 GB)")

    floor_total = sum(ln.monthly for ln in lines)

    # ---- use: job minutes, cost per job-minute, GitHub-hosted break-even -----------------
    main = shape.hosts[0] if shape.hosts else HostGroup("none", "t3.medium", 0, 0, False)
    capacity_minutes = sum(h.max_size for h in shape.hosts) * hours * MINUTES_PER_HOUR
    minutes = capacity_minutes * utilisation if job_minutes is None else float(job_minutes)
    inst_per_min = instance_hourly(shape.region, main.instance_type) / MINUTES_PER_HOUR
    vol_per_min = vol_each / hours / MINUTES_PER_HOUR
    per_busy_min = (inst_per_min + vol_per_min) / utilisation
    floor_instance_minutes = always_on * hours * MINUTES_PER_HOUR
    autoscaled = any(h.autoscaled for h in shape.hosts)
    if autoscaled:
        # Instances beyond the always-on ones run only while busy (at `utilisation`).
        extra_minutes = max(0.0, minutes / utilisation - floor_instance_minutes)
        monthly_total = floor_total + extra_minutes * (inst_per_min + vol_per_min)
        fixed = floor_total - floor_instance_minutes * (inst_per_min + vol_per_min)
    else:
        monthly_total = floor_total
        fixed = floor_total
    gh_rate, gh_label = github_hosted_per_minute(main.instance_type)
    if autoscaled:
        margin = gh_rate - per_busy_min
        break_even = fixed / margin if margin > 0 else None
    else:
        break_even = floor_total / gh_rate
    endpoint_saving_per_gb = (
        float(p["nat_gateway_gb"]) - float(p["interface_endpoint_gb"])
        if shape.nat != "instance"
        else -float(p["interface_endpoint_gb"])
    )
    endpoints = {
        "monthly": round(endpoint_month, 2),
        "enabled": shape.interface_endpoints,
        "saving_per_gb_through_them": round(endpoint_saving_per_gb, 4),
        "pays_off_above_gb_per_month": (
            round(endpoint_month / endpoint_saving_per_gb, 1)
            if endpoint_saving_per_gb > 0
            else None
        ),
    }
    return Estimate(
        region=shape.region,
        as_of=str(table["as_of"]),
        lines=lines,
        floor_total=floor_total,
        utilisation=utilisation,
        job_minutes=minutes,
        monthly_total=monthly_total,
        per_job_minute=(monthly_total / minutes) if minutes > 0 else None,
        github_rate=gh_rate,
        github_label=gh_label,
        github_monthly=minutes * gh_rate,
        break_even_job_minutes=None if break_even is None else math.ceil(break_even),
        data_per_gb={
            "nat_processing": float(p["nat_gateway_gb"]) if shape.nat != "instance" else 0.0,
            "internet_egress": float(p["data_transfer_out_gb"]),
            "interface_endpoint_processing": float(p["interface_endpoint_gb"]),
        },
        endpoints=endpoints,
        assumptions=[
            f"AWS on-demand list prices for {shape.region} as of {table['as_of']} "
            "(src/runnerfleet/data/prices.json); no free tier, tax, discounts or spot",
            "data transfer and NAT/endpoint processing are per GB on top (data_per_gb)",
            f"control plane: {SCHEDULED_INVOCATIONS_PER_MONTH} scheduled scans a month; "
            "webhook and registrar runs per job are not in the floor",
            f"CloudWatch agent: {AGENT_MEASUREMENTS} measurements per host (one disk device)",
            "GitHub-hosted rate for the same vCPU count from 2026-01-01; the announced "
            "$0.002/min self-hosted platform charge is postponed and not counted",
        ],
    )


def monthly_floor(cfg: FleetConfig) -> Estimate:
    """The estimate of a config at the default utilisation (for `up --aws`)."""
    return estimate(shape_from_config(cfg))


def render_floor_line(est: Estimate) -> str:
    """One line for a plan summary: the monthly floor and its two largest parts."""
    top = sorted(est.lines, key=lambda ln: ln.monthly, reverse=True)[:2]
    parts = ", ".join(f"{ln.resource} ${ln.monthly:.2f}" for ln in top)
    return f"monthly floor ~${est.floor_total:.2f} at {est.region} list prices ({parts})"
