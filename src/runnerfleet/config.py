"""The `runnerfleet.toml` model: load, validate, apply `RUNNERFLEET_*` overrides, render tfvars.

Everything a user can set lives here, with the seed architecture's defaults. Errors name
the field (dotted path, as written in the TOML file) and say how to fix it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from runnerfleet import catalogue

DEFAULT_CONFIG_FILE = "runnerfleet.toml"
ENV_PREFIX = "RUNNERFLEET_"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.[a-z0-9]+$")
LABEL_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
RUNNER_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
# OCI image reference (github.com/distribution/reference): [domain[:port]/]path[:tag][@digest].
_IMG_DOMAIN = (
    r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
_IMG_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"(?:{_IMG_DOMAIN}/)?{_IMG_COMPONENT}(?:/{_IMG_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"  # tag: ASCII word characters (Go's \w)
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
# Characters AWS allows in tag keys and values.
TAG_RE = re.compile(r"[\w .:/=+\-@]*")
ARN_RE = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:[A-Za-z0-9_./:+=,@-]+")
# KMS key id, alias or ARN.
KMS_RE = re.compile(r"(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:)?(?:key/)?[A-Za-z0-9/_-]{1,256}")

# The runner version the hosts install unless configured; its checksum is published with it.
DEFAULT_RUNNER_VERSION = "2.329.0"


class ConfigError(Exception):
    """A config problem. `problems` lists `(field, message)` pairs; str() is user-readable."""

    def __init__(self, problems: list[tuple[str, str]], source: str = DEFAULT_CONFIG_FILE):
        self.problems = problems
        self.source = source
        lines = [f"{source}: {len(problems)} problem(s):"]
        lines += [f"  - {field}: {msg}" for field, msg in problems]
        super().__init__("\n".join(lines))


class _Model(BaseModel):
    # strict: no surprising coercion (true is not 1, "yes" is not a boolean, 1.5 is not 1).
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, strict=True, allow_inf_nan=False
    )


def _cidr(value: str, field: str) -> ipaddress.IPv4Network:
    if "/" not in value:
        raise ValueError(
            f"{value!r} is not a CIDR block: add the prefix length, e.g. {value}/32 for one address"
        )
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a valid IPv4 CIDR block ({exc}); write it like 10.0.1.0/24 "
            "with the host bits zero"
        ) from exc


Cidr = Annotated[str, Field(description="IPv4 CIDR block, e.g. 10.0.1.0/24")]


class AwsConfig(_Model):
    """`[aws]`: where to deploy, and optional endpoint overrides (used by the sandbox)."""

    region: str = "us-east-1"
    profile: str | None = None
    endpoints: dict[str, str] = Field(default_factory=dict)

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not REGION_RE.fullmatch(v) or v not in catalogue.regions():
            raise ValueError(
                f"{v!r} is not an AWS region{catalogue.suggest(v, catalogue.regions())} "
                "(use one like us-east-1 or eu-west-2)"
            )
        return v

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_.@+-]{1,128}", v):
            raise ValueError(f"{v!r} is not an AWS profile name (letters, digits, _.@+-)")
        return v

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, v: dict[str, str]) -> dict[str, str]:
        for svc, url in v.items():
            if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
                raise ValueError(
                    f"endpoint for {svc!r} is {url!r}; give a full URL like http://127.0.0.1:5000"
                )
        return v


class BackendConfig(_Model):
    """`[backend]`: the Terraform state backend (S3 bucket + DynamoDB lock table)."""

    bucket: str | None = Field(
        default=None, description="state bucket; default '<name>-tfstate-<account id>'"
    )
    key: str = "aws/ec2-runner/terraform.tfstate"
    lock_table: str | None = Field(default=None, description="default '<name>-tflock'")
    locking: Literal["both", "s3", "dynamodb"] = "both"
    kms_key_id: str | None = None

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is None:
            return v
        problems = []
        if not BUCKET_RE.fullmatch(v):
            problems.append(
                "3-63 characters of lowercase letters, digits, dots and hyphens, "
                "starting and ending with a letter or digit"
            )
        if ".." in v:
            problems.append("no two adjacent dots")
        if re.fullmatch(r"^\d+\.\d+\.\d+\.\d+$", v):
            problems.append("not formatted like an IP address")
        if v.startswith(("xn--", "sthree-")) or v.endswith(("-s3alias", "--ol-s3")):
            problems.append("no reserved prefix (xn--, sthree-) or suffix (-s3alias, --ol-s3)")
        if problems:
            raise ValueError(f"{v!r} breaks S3 bucket naming rules: " + "; ".join(problems))
        return v

    @field_validator("kms_key_id")
    @classmethod
    def _kms(cls, v: str | None) -> str | None:
        if v is not None and not KMS_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a KMS key id, alias or ARN")
        return v

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if (
            not v
            or v.startswith("/")
            or v.endswith("/")
            or not re.fullmatch(r"[A-Za-z0-9!_.*'()/=+-]{1,1024}", v)
        ):
            raise ValueError(
                f"{v!r} is not a usable object key; "
                "use a path like aws/ec2-runner/terraform.tfstate"
            )
        return v

    @field_validator("lock_table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"^[A-Za-z0-9_.-]{3,255}$", v):
            raise ValueError(
                f"{v!r} is not a DynamoDB table name; use 3-255 letters, digits, '_', '-' or '.'"
            )
        return v


class NetworkConfig(_Model):
    """`[network]`: the VPC. One public and one private subnet per availability zone."""

    vpc_cidr: Cidr = "10.0.0.0/16"
    availability_zones: list[str] = Field(default_factory=lambda: ["us-east-1a"])
    public_subnet_cidrs: list[Cidr] = Field(default_factory=lambda: ["10.0.1.0/24"])
    private_subnet_cidrs: list[Cidr] = Field(default_factory=lambda: ["10.0.2.0/24"])
    nat: Literal["single", "per_az", "instance"] = "single"
    interface_endpoints: bool = False
    flow_logs: bool = True  # secure default (CKV2_AWS_11): traffic records for investigations


def _instance_type(v: str) -> str:
    known = catalogue.instance_types()
    if not INSTANCE_TYPE_RE.fullmatch(v) or v not in known:
        raise ValueError(
            f"{v!r} is not an EC2 instance type{catalogue.suggest(v, known)} "
            "(use one like t3.medium)"
        )
    return v


def runner_checksums() -> dict[str, str]:
    """Published SHA-256 of the runner tarball per known version (the host checks it)."""
    from runnerfleet.agent.runner_release import CHECKSUMS

    return dict(CHECKSUMS)


class ScheduleConfig(_Model):
    """A time-of-day minimum for an autoscaled pool (`[[runners.pools.schedules]]`)."""

    name: str
    recurrence: str = Field(description="cron in UTC, e.g. '0 8 * * MON-FRI'")
    min_size: int = Field(ge=0, le=1000)

    @field_validator("name")
    @classmethod
    def _sname(cls, v: str) -> str:
        if not re.fullmatch(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", v):
            raise ValueError(f"{v!r}: use 1-64 letters, digits, '-' or '_'")
        return v

    @field_validator("recurrence")
    @classmethod
    def _cron(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError(f"{v!r} is not a 5-field cron expression like '0 8 * * MON-FRI'")
        return v


class PoolConfig(_Model):
    """An autoscaled runner pool (`[[runners.pools]]`): one Auto Scaling group."""

    name: str = "default"
    labels: list[str] = Field(default_factory=list)
    min_size: int = Field(default=0, ge=0, le=1000)
    max_size: int = Field(default=5, ge=1, le=1000)
    desired_capacity: int | None = Field(default=None, ge=0, le=1000)
    instance_types: list[str] = Field(default_factory=list)
    on_demand_base_capacity: int = Field(default=0, ge=0)
    on_demand_percentage_above_base: int = Field(default=100, ge=0, le=100)
    spot_allocation_strategy: Literal[
        "price-capacity-optimized", "capacity-optimized", "lowest-price"
    ] = "price-capacity-optimized"
    warm_pool_size: int = Field(default=0, ge=0, le=100)
    idle: int = Field(
        default=0, ge=0, le=1000, strict=True, description="hot idle runners the pool keeps ready"
    )
    cpu_target: float | None = Field(default=70.0, gt=0, le=100)
    schedules: list[ScheduleConfig] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"^[a-z0-9][a-z0-9-]{0,30}$", v):
            raise ValueError(f"{v!r}: use 1-31 lowercase letters, digits and hyphens")
        return v

    @field_validator("labels")
    @classmethod
    def _plabels(cls, v: list[str]) -> list[str]:
        for label in v:
            if not LABEL_RE.fullmatch(label):
                raise ValueError(
                    f"label {label!r}: use 1-100 letters, digits, '.', '_' or '-' (no spaces)"
                )
        return v

    @field_validator("instance_types")
    @classmethod
    def _itypes(cls, v: list[str]) -> list[str]:
        for t in v:
            _instance_type(t)
        return v

    @model_validator(mode="after")
    def _sizes(self) -> PoolConfig:
        if self.warm_pool_size > 0 and (
            len(self.instance_types) > 1 or self.on_demand_percentage_above_base < 100
        ):
            raise ValueError(
                "a warm pool cannot be combined with spot or several instance types (AWS rule); "
                "set warm_pool_size = 0, or one instance type with on_demand_percentage_above_base "
                "= 100"
            )
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is above max_size ({self.max_size})")
        if self.idle > self.max_size:
            raise ValueError(
                f"idle ({self.idle}) is above max_size ({self.max_size}); a pool cannot keep more "
                "idle runners than it may have hosts: lower idle or raise max_size"
            )
        for sched in self.schedules:
            if sched.min_size > self.max_size:
                raise ValueError(
                    f"schedule {sched.name!r} min_size ({sched.min_size}) is above the pool's "
                    f"max_size ({self.max_size})"
                )
        if self.desired_capacity is not None and not (
            self.min_size <= self.desired_capacity <= self.max_size
        ):
            raise ValueError(
                f"desired_capacity ({self.desired_capacity}) must lie between min_size "
                f"({self.min_size}) and max_size ({self.max_size})"
            )
        return self


class RunnersConfig(_Model):
    """`[runners]`: the runner hosts (the seed's EC2 instance, scaled)."""

    mode: Literal["static", "autoscaled"] = "static"
    count: int = Field(default=1, ge=0, le=100, description="static mode: number of instances")
    instance_type: str = "t3.medium"
    ami_id: str | None = None
    volume_size: int = Field(default=50, ge=8, le=16384)
    volume_type: Literal["gp3", "gp2", "io1", "io2"] = "gp3"
    volume_iops: int | None = Field(default=None, ge=100, le=256000)
    volume_throughput: int | None = Field(default=None, ge=125, le=2000)
    labels: list[str] = Field(default_factory=list)
    ephemeral: bool = False
    runner_version: str = DEFAULT_RUNNER_VERSION
    runner_sha256: str | None = Field(
        default=None,
        description="SHA-256 of the runner tarball; only for versions runnerfleet does not know",
    )
    ssh_ingress_cidrs: list[Cidr] = Field(default_factory=list)
    http_ingress_cidrs: list[Cidr] | None = Field(
        default=None, description="CIDRs allowed to reach nginx on 80/443; default: the VPC"
    )
    s3_bucket_names: list[str] = Field(default_factory=list)
    app_image: str = "nginxdemos/hello:plain-text"
    pools: list[PoolConfig] = Field(default_factory=lambda: [PoolConfig()])

    @field_validator("instance_type")
    @classmethod
    def _itype(cls, v: str) -> str:
        return _instance_type(v)

    @field_validator("app_image")
    @classmethod
    def _image(cls, v: str) -> str:
        if len(v) > 255 or not IMAGE_RE.fullmatch(v):
            raise ValueError(
                f"{v!r} is not a container image reference; write it like "
                "nginxdemos/hello:plain-text or registry.example.com:5000/team/app@sha256:<digest>"
            )
        return v

    @field_validator("s3_bucket_names")
    @classmethod
    def _buckets(cls, v: list[str]) -> list[str]:
        for b in v:
            if not BUCKET_RE.fullmatch(b) or ".." in b:
                raise ValueError(f"{b!r} is not an S3 bucket name (3-63 of a-z 0-9 . -)")
        return v

    @field_validator("ami_id")
    @classmethod
    def _ami(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"^ami-[0-9a-f]{8,17}$", v):
            raise ValueError(f"{v!r} is not an AMI id; use one like ami-0abcdef1234567890")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        for label in v:
            if not LABEL_RE.fullmatch(label):
                raise ValueError(
                    f"label {label!r}: use 1-100 letters, digits, '.', '_' or '-' (no spaces)"
                )
        return v

    @field_validator("runner_version")
    @classmethod
    def _rv(cls, v: str) -> str:
        if not RUNNER_VERSION_RE.fullmatch(v):
            raise ValueError(
                f"{v!r} is not a runner version; use one like {DEFAULT_RUNNER_VERSION}"
            )
        return v

    @field_validator("runner_sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"^[0-9a-f]{64}$", v):
            raise ValueError(
                "must be 64 lowercase hex digits: the SHA-256 from the runner release notes"
            )
        return v

    @field_validator("ssh_ingress_cidrs", "http_ingress_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str] | None) -> list[str] | None:
        for c in v or []:
            _cidr(c, "")
        return v

    @model_validator(mode="after")
    def _volume(self) -> RunnersConfig:
        if self.runner_sha256 is None and self.runner_version not in runner_checksums():
            raise ValueError(
                f"runner_version {self.runner_version} has no known checksum; set runner_sha256 to "
                "the SHA-256 from its release notes, or use one of "
                + ", ".join(sorted(runner_checksums()))
            )
        if self.volume_throughput is not None and self.volume_type != "gp3":
            raise ValueError("volume_throughput applies to gp3 only; remove it or set volume_type")
        if self.volume_iops is not None and self.volume_type == "gp2":
            raise ValueError("volume_iops cannot be set for gp2; use gp3 or remove volume_iops")
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError(f"pool names must be unique, got {names}")
        if self.mode == "autoscaled" and not self.pools:
            raise ValueError("autoscaled mode needs at least one [[runners.pools]] entry")
        return self


class GithubConfig(_Model):
    """`[github]`: where runners register and how the control plane authenticates."""

    url: str = "https://github.com"
    owner: str = Field(default="example-org", description="organization or user")
    repository: str | None = Field(default=None, description="repo name for repo-level runners")
    auth: Literal["app", "pat"] = "app"
    # The defaults of `runnerfleet github configure --app-id/--installation-id` (the flags win).
    app_id: str | int | None = None
    installation_id: int | None = None
    runner_group: str = "Default"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", v):
            raise ValueError(f"{v!r} is not a URL; use https://github.com or your GHES URL")
        return v.rstrip("/")

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, v: str | int | None) -> str | None:
        if v is None:
            return None
        text = str(v)
        if not re.fullmatch(r"[0-9]{1,20}|Iv[0-9a-zA-Z.]{1,40}", text):
            raise ValueError(f"{text!r} is not a GitHub App id (a number) or client id (Iv...)")
        return text

    @field_validator("installation_id")
    @classmethod
    def _installation_id(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError(
                f"{v} is not an installation id (the positive number at the end of the "
                "installation page's URL)"
            )
        return v

    @field_validator("repository")
    @classmethod
    def _repo(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", v):
            raise ValueError(f"{v!r} is not a repository name (letters, digits, '.', '_', '-')")
        return v

    @field_validator("runner_group")
    @classmethod
    def _group(cls, v: str) -> str:
        if not re.fullmatch(r"[\w .-]{1,100}", v):
            raise ValueError(f"{v!r} is not a runner group name (letters, digits, ' ._-')")
        return v

    @field_validator("owner")
    @classmethod
    def _owner(cls, v: str) -> str:
        if not re.fullmatch(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$", v):
            raise ValueError(f"{v!r} is not a GitHub organization or user name")
        return v

    @property
    def api_url(self) -> str:
        """REST API base URL: api.github.com for github.com, /api/v3 for GHES."""
        if self.url in ("https://github.com", "http://github.com"):
            return "https://api.github.com"
        return f"{self.url}/api/v3"


class MonitoringConfig(_Model):
    """`[monitoring]`: log retention, where alarms go, and one-minute EC2 metrics.

    `detailed_monitoring`: EC2 detailed (one-minute) monitoring of the runner instances and
    launch templates; off by default (AWS bills it as 7 custom metrics per instance,
    $2.10 a month in us-east-1, and `runnerfleet cost` counts it).
    """

    log_retention_days: int = 30
    detailed_monitoring: bool = False
    alarm_sns_topic_arn: str | None = None
    kms_key_arn: str | None = None

    @field_validator("log_retention_days")
    @classmethod
    def _ret(cls, v: int) -> int:
        allowed = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                   2192, 2557, 2922, 3288, 3653]  # fmt: skip
        if v not in allowed:
            shown = str(v) if abs(v) < 10**12 else "that number"
            raise ValueError(f"{shown} is not a CloudWatch retention; pick one of {allowed}")
        return v

    @field_validator("alarm_sns_topic_arn", "kms_key_arn")
    @classmethod
    def _arn(cls, v: str | None) -> str | None:
        if v is not None and not ARN_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not an ARN; write it like arn:aws:sns:us-east-1:...")
        return v


class ControlPlaneConfig(_Model):
    """`[control_plane]`: the webhook-driven scaler/registrar/reconciler."""

    enabled: bool = True
    boot_timeout_seconds: int = Field(default=600, ge=60, le=3600)
    idle_grace_seconds: int = Field(
        default=600, ge=0, le=3600, description="idle runner hosts are scaled in after this"
    )
    github_sync_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="the reconcile pass asks GitHub (runner list, lost jobs) at most this "
        "often; 0: every pass (poll mode, for a fleet that receives no webhooks)",
    )
    job_recheck_seconds: int = Field(
        default=300,
        ge=10,
        le=3600,
        description="a job queued this long, or in progress on a runner that is idle or gone, "
        "is asked of GitHub again by the reconcile pass (its webhook was lost); lower frees "
        "idle capacity sooner after lost webhooks, at up to 20 GitHub calls a pass",
    )
    reconcile_schedule: str = Field(
        default="rate(1 minute)", description="EventBridge schedule of the reconcile pass"
    )

    @field_validator("reconcile_schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        if not re.fullmatch(r"rate\([1-9][0-9]{0,4} (minute|minutes|hour|hours|day|days)\)"
                            r"|cron\([0-9A-Za-z*?/,# -]{9,100}\)", v):  # fmt: skip
            raise ValueError(
                f"{v!r} is not an EventBridge schedule; write rate(1 minute) or cron(...)"
            )
        return v


class FleetConfig(_Model):
    """The whole `runnerfleet.toml`."""

    name: str = "runnerfleet"
    tags: dict[str, str] = Field(default_factory=dict)
    aws: AwsConfig = Field(default_factory=AwsConfig)
    backend: BackendConfig = Field(default_factory=BackendConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    runners: RunnersConfig = Field(default_factory=RunnersConfig)
    github: GithubConfig = Field(default_factory=GithubConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    control_plane: ControlPlaneConfig = Field(default_factory=ControlPlaneConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.fullmatch(v):
            raise ValueError(
                f"{v!r}: use 3-32 lowercase letters, digits and hyphens, starting with a letter "
                "(it prefixes every AWS resource name)"
            )
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if k.lower().startswith(("aws:", "runnerfleet:")):
                raise ValueError(f"tag key {k!r} uses a reserved prefix (aws:, runnerfleet:)")
            if not 1 <= len(k) <= 128 or not TAG_RE.fullmatch(k):
                raise ValueError(f"tag key {k!r} must be 1-128 letters, digits, spaces or _.:/=+-@")
        for k, val in v.items():
            if len(val) > 256 or not TAG_RE.fullmatch(val):
                raise ValueError(
                    f"tag {k!r}: the value must be 0-256 letters, digits, spaces or _.:/=+-@"
                )
        return v

    @model_validator(mode="after")
    def _network(self) -> FleetConfig:
        net = self.network
        try:
            vpc = _cidr(net.vpc_cidr, "network.vpc_cidr")
        except ValueError as exc:
            raise ValueError(f"network.vpc_cidr: {exc}") from exc
        if not 16 <= vpc.prefixlen <= 28:
            raise ValueError(
                f"network.vpc_cidr: /{vpc.prefixlen} is outside AWS's /16../28; "
                "use e.g. 10.0.0.0/16"
            )
        azs = net.availability_zones
        if not azs:
            raise ValueError("network.availability_zones: list at least one zone, e.g. us-east-1a")
        if len(set(azs)) != len(azs):
            raise ValueError(f"network.availability_zones: zones repeat in {azs}")
        for az in azs:
            if not re.fullmatch(rf"^{re.escape(self.aws.region)}[a-z]$", az):
                raise ValueError(
                    f"network.availability_zones: {az!r} is not a zone of region "
                    f"{self.aws.region!r}; use e.g. {self.aws.region}a"
                )
        for fld in ("public_subnet_cidrs", "private_subnet_cidrs"):
            cidrs = getattr(net, fld)
            if len(cidrs) != len(azs):
                raise ValueError(
                    f"network.{fld}: {len(cidrs)} subnet(s) for {len(azs)} availability zone(s); "
                    "give exactly one per zone, in the same order"
                )
        nets: list[tuple[str, ipaddress.IPv4Network]] = []
        for fld in ("public_subnet_cidrs", "private_subnet_cidrs"):
            for i, c in enumerate(getattr(net, fld)):
                try:
                    n = _cidr(c, fld)
                except ValueError as exc:
                    raise ValueError(f"network.{fld}[{i}]: {exc}") from exc
                if not n.subnet_of(vpc):
                    raise ValueError(
                        f"network.{fld}[{i}]: {c} is outside the VPC {vpc}; "
                        f"pick a block inside {vpc}"
                    )
                if not 16 <= n.prefixlen <= 28:
                    raise ValueError(f"network.{fld}[{i}]: /{n.prefixlen} subnets are not allowed")
                for other_name, other in nets:
                    if n.overlaps(other):
                        raise ValueError(
                            f"network.{fld}[{i}]: {c} overlaps {other_name} ({other}); "
                            "subnets must not overlap"
                        )
                nets.append((f"network.{fld}[{i}]", n))
        return self

    # ---- derived names -------------------------------------------------------------------
    def state_bucket(self, account_id: str) -> str:
        return self.backend.bucket or f"{self.name}-tfstate-{account_id}"

    def lock_table(self) -> str:
        return self.backend.lock_table or f"{self.name}-tflock"

    def base_tags(self) -> dict[str, str]:
        return {**self.tags, "runnerfleet:fleet": self.name}


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _hint(err: Mapping[str, Any]) -> str:
    typ = err.get("type", "")
    msg = str(err.get("msg", ""))
    msg = msg.removeprefix("Value error, ")
    if typ == "extra_forbidden":
        return "unknown setting; check the spelling (see `runnerfleet init` for every setting)"
    if typ in ("int_parsing", "int_type", "int_from_float"):
        return f"{msg}; write a whole number without quotes (true/false are not numbers)"
    if typ in ("float_type", "float_parsing", "finite_number"):
        return f"{msg}; write a number without quotes"
    if typ in ("bool_parsing", "bool_type"):
        return f"{msg}; write true or false (without quotes)"
    if typ in ("string_type",):
        return f"{msg}; write it in double quotes"
    if typ in ("list_type",):
        return f'{msg}; write a list like ["a", "b"] (in the environment: JSON)'
    if typ in ("dict_type", "model_type", "model_attributes_type"):
        return f"{msg}; write a table (in the environment: a JSON object, or one variable per key)"
    return msg


def _split_model_error(field: str, message: str) -> tuple[str, str]:
    """Model validators prefix messages with the dotted field they concern."""
    m = re.match(r"^(network\.[a-z_]+(?:\[\d+\])?): (.*)$", message, re.S)
    if m and not field:
        return m.group(1), m.group(2)
    return field or "(top level)", message


def validate(
    data: Mapping[str, Any],
    source: str = DEFAULT_CONFIG_FILE,
    origins: Mapping[str, str] | None = None,
) -> FleetConfig:
    """Validate a config mapping, raising ConfigError with one entry per problem.

    `origins` maps a dotted field to the environment variable that set it; problems in or
    under that field name the variable too.
    """
    try:
        return FleetConfig.model_validate(dict(data))
    except RecursionError:
        raise ConfigError(
            [("(file)", "nested too deeply to be a runnerfleet config")], source
        ) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = _field_path(tuple(err["loc"]))
            fld, msg = _split_model_error(field, _hint(err))
            for path, var in (origins or {}).items():
                if fld == path or fld.startswith((path + ".", path + "[")):
                    msg += f" (set by the environment variable {var})"
                    break
            problems.append((fld, msg))
        raise ConfigError(problems, source) from None


def _parse_env_value(key: str, raw: str) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    except (ValueError, RecursionError) as exc:  # 5000-digit numbers, deep nesting
        raise ConfigError(
            [(key, f"not a usable value ({type(exc).__name__}: {str(exc)[:120]})")], "environment"
        ) from None
    if isinstance(value, str | bool | int | float | list | dict) or value is None:
        return value
    return raw  # pragma: no cover - json.loads returns nothing else


RESERVED_ENV = {"CONFIG", "HOME", "PROVIDER_MIRROR", "LOG_LEVEL"}
_ENV_KEY_RE = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*(?:__[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)*")


def _env_items(environ: Mapping[str, str]) -> list[tuple[str, list[str], str]]:
    """(variable, lowercased key path, raw value) for every fleet setting in the environment."""
    items = []
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX) :]
        if rest in RESERVED_ENV or rest.startswith(("TF_", "SANDBOX_", "GITHUB_TOKEN")):
            continue
        if not _ENV_KEY_RE.fullmatch(rest):
            raise ConfigError(
                [
                    (
                        key,
                        "not a setting name: write RUNNERFLEET_<SECTION>__<KEY>, e.g. "
                        "RUNNERFLEET_AWS__REGION (a double underscore between levels)",
                    )
                ],
                "environment",
            )
        items.append((key, [p.lower() for p in rest.split("__")], raw))
    return sorted(items, key=lambda item: len(item[1]))


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`RUNNERFLEET_AWS__REGION=eu-west-1` -> {"aws": {"region": "eu-west-1"}}.

    Nested keys are joined by a double underscore; values are parsed as JSON when they can be
    (numbers, booleans, lists) and taken as strings otherwise. RUNNERFLEET_CONFIG,
    RUNNERFLEET_HOME and RUNNERFLEET_TF_* are settings of the CLI, not of the fleet.
    A malformed name, or one setting both a value and a key below it, raises ConfigError.
    """
    return _env_overrides(os.environ if environ is None else environ)[0]


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    out: dict[str, Any] = {}
    origins: dict[str, str] = {}
    owner: dict[tuple[str, ...], str] = {}
    for key, parts, raw in _env_items(environ):
        node = out
        for i, p in enumerate(parts[:-1]):
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                other = owner[tuple(parts[: i + 1])]
                raise ConfigError(
                    [
                        (
                            ".".join(parts[: i + 1]),
                            f"{other} sets it to a single value while {key} sets a key below "
                            "it; remove one of the two variables",
                        )
                    ],
                    "environment",
                )
            node = child
        value = _parse_env_value(key, raw)
        if isinstance(node.get(parts[-1]), dict):
            other = next(v for k, v in owner.items() if k[: len(parts)] == tuple(parts))
            raise ConfigError(
                [
                    (
                        ".".join(parts),
                        f"{key} sets it to a single value while {other} sets a key below it; "
                        "remove one of the two variables",
                    )
                ],
                "environment",
            )
        node[parts[-1]] = value
        owner[tuple(parts)] = key
        origins[".".join(parts)] = key
    return out, origins


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def read_file(path: Path) -> dict[str, Any]:
    """Parse one TOML config file, every failure a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError([("(file)", "is a folder, not a config file")], str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError([("(file)", "not UTF-8 text")], str(path)) from None
    except OSError as exc:
        raise ConfigError(
            [("(file)", f"cannot be read: {exc.strerror or exc}")], str(path)
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        where = _key_at(text, int(m.group(1))) if m else "(file)"
        raise ConfigError(
            [(where, f"not valid TOML: {exc}; fix the syntax at that line")], str(path)
        ) from None
    except RecursionError:
        where = _locate(text, re.compile(r"(?:[\[{]\s*(?:[A-Za-z0-9_\"-]+\s*=\s*)?){64}"))
        raise ConfigError(
            [(where, "nested too deeply to be a runnerfleet config")], str(path)
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        where = _locate(text, re.compile(r"=\s*[+-]?[0-9_]{4000}"))
        raise ConfigError(
            [(where, f"not a usable value: {str(exc)[:90]}; a number this long is no setting")],
            str(path),
        ) from None


def _locate(text: str, pattern: re.Pattern[str]) -> str:
    """The dotted key (and line) of the first line matching `pattern`, for parse errors."""
    for n, line in enumerate(text.splitlines(), 1):
        if pattern.search(line):
            return _key_at(text, n)
    return "(file)"


def _key_at(text: str, lineno: int) -> str:
    """`table.key (line N)` for line `lineno` of a TOML text (best effort, for messages)."""
    table = ""
    lines = text.splitlines()
    for line in lines[: lineno - 1]:
        header = re.fullmatch(r"\s*\[\[?\s*([A-Za-z0-9_.\- ]+?)\s*\]\]?\s*(#.*)?", line)
        if header:
            table = header.group(1).replace(" ", "")
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    key = re.match(r"\s*([A-Za-z0-9_.\-\"]+)\s*=", line)
    if not key:
        return f"{table or '(file)'} (line {lineno})"
    return f"{table + '.' if table else ''}{key.group(1).strip(chr(34))} (line {lineno})"


def load(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    required: bool | None = None,
) -> FleetConfig:
    """Load `runnerfleet.toml` (if present) plus environment overrides.

    The default file may be missing (every setting has a default). A file named explicitly
    (`path`, or RUNNERFLEET_CONFIG) must exist: `required` defaults to "named explicitly".
    A file that does not parse, or values that do not validate, raise ConfigError.
    """
    env = os.environ if environ is None else environ
    if required is None:
        required = path is not None or "RUNNERFLEET_CONFIG" in env
    path = path or Path(env.get("RUNNERFLEET_CONFIG", DEFAULT_CONFIG_FILE))
    data: dict[str, Any] = {}
    try:
        present = path.exists() or path.is_symlink()
    except OSError:  # a name too long for the file system, for instance
        present = True  # read_file reports why it cannot be read
    if present:
        data = read_file(path)
    elif required:
        raise ConfigError(
            [
                (
                    "(file)",
                    "does not exist; check the name, or run `runnerfleet init --path "
                    f"{path}` to write one",
                )
            ],
            str(path),
        )
    overrides, origins = _env_overrides(env)
    data = _deep_merge(data, overrides)
    return validate(data, str(path), origins)


def to_tfvars(cfg: FleetConfig) -> dict[str, Any]:
    """Render the config to the root stack's variables (`runnerfleet.auto.tfvars.json`)."""
    r = cfg.runners
    n = cfg.network
    return {
        "name": cfg.name,
        "region": cfg.aws.region,
        "tags": cfg.tags,
        "vpc_cidr": n.vpc_cidr,
        "availability_zones": n.availability_zones,
        "public_subnet_cidrs": n.public_subnet_cidrs,
        "private_subnet_cidrs": n.private_subnet_cidrs,
        "nat_mode": n.nat,
        "enable_interface_endpoints": n.interface_endpoints,
        "enable_flow_logs": n.flow_logs,
        "runner_mode": r.mode,
        "runner_count": r.count,
        "instance_type": r.instance_type,
        "ami_id": r.ami_id,
        "root_volume_size": r.volume_size,
        "root_volume_type": r.volume_type,
        "root_volume_iops": r.volume_iops,
        "root_volume_throughput": r.volume_throughput,
        "runner_labels": r.labels,
        "ephemeral": r.ephemeral,
        "runner_version": r.runner_version,
        "runner_sha256": r.runner_sha256 or runner_checksums()[r.runner_version],
        "ssh_ingress_cidrs": r.ssh_ingress_cidrs,
        "http_ingress_cidrs": r.http_ingress_cidrs,
        "s3_bucket_names": r.s3_bucket_names,
        "app_image": r.app_image,
        "pools": [
            {
                "name": p.name,
                "labels": p.labels,
                "min_size": p.min_size,
                "max_size": p.max_size,
                "desired_capacity": p.desired_capacity,
                "instance_types": p.instance_types or [r.instance_type],
                "on_demand_base_capacity": p.on_demand_base_capacity,
                "on_demand_percentage_above_base": p.on_demand_percentage_above_base,
                "spot_allocation_strategy": p.spot_allocation_strategy,
                "warm_pool_size": p.warm_pool_size,
                "idle": p.idle,
                "cpu_target": p.cpu_target,
                "schedules": [s.model_dump() for s in p.schedules],
            }
            for p in r.pools
        ],
        "github_url": cfg.github.url,
        "github_owner": cfg.github.owner,
        "github_repository": cfg.github.repository,
        "github_runner_group": cfg.github.runner_group,
        "github_auth": cfg.github.auth,
        "log_retention_days": cfg.monitoring.log_retention_days,
        "alarm_sns_topic_arn": cfg.monitoring.alarm_sns_topic_arn,
        "log_kms_key_arn": cfg.monitoring.kms_key_arn,
        "detailed_monitoring": cfg.monitoring.detailed_monitoring,
        "enable_control_plane": cfg.control_plane.enabled,
        "control_plane_boot_timeout": cfg.control_plane.boot_timeout_seconds,
        "control_plane_idle_grace": cfg.control_plane.idle_grace_seconds,
        "control_plane_github_sync": cfg.control_plane.github_sync_seconds,
        "control_plane_job_recheck": cfg.control_plane.job_recheck_seconds,
        "control_plane_reconcile_schedule": cfg.control_plane.reconcile_schedule,
    }
