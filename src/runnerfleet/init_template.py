"""Renders the commented `runnerfleet.toml` that `runnerfleet init` writes."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class InitAnswers:
    name: str = "runnerfleet"
    region: str = "us-east-1"
    owner: str = "example-org"
    repository: str | None = None
    mode: str = "static"
    count: int = 1
    instance_type: str = "t3.medium"


def render(a: InitAnswers) -> str:
    """A complete config file; every setting shown, optional ones commented out."""
    q = json.dumps
    repo_line = f"repository = {q(a.repository)}" if a.repository else '# repository = "my-repo"'
    return f"""\
# runnerfleet.toml: one file for the whole fleet. Every value here is validated by
# `runnerfleet` before anything is created; environment variables override it:
# RUNNERFLEET_<SECTION>__<KEY>, e.g. RUNNERFLEET_RUNNERS__COUNT=3.

# Prefix of every AWS resource and value of the runnerfleet:fleet tag.
name = {q(a.name)}

[tags]
# team = "platform"

[aws]
region = {q(a.region)}
# profile = "ci-admin"          # a named profile from ~/.aws/config
# endpoints = {{ s3 = "https://s3.example.internal" }}

[backend]
# Terraform state: S3 bucket (versioned, encrypted, TLS-only) + DynamoDB lock table.
# bucket = "{a.name}-tfstate-<account id>"   # default
key = "aws/ec2-runner/terraform.tfstate"
# lock_table = "{a.name}-tflock"              # default
locking = "both"                              # "both" | "s3" | "dynamodb"
# kms_key_id = "arn:aws:kms:..."              # SSE-KMS instead of SSE-S3

[network]
vpc_cidr = "10.0.0.0/16"
availability_zones = [{q(a.region + "a")}]
public_subnet_cidrs = ["10.0.1.0/24"]         # one per zone, same order
private_subnet_cidrs = ["10.0.2.0/24"]        # one per zone, same order
nat = "single"                                # "single" | "per_az" | "instance" (cheapest)
interface_endpoints = false                   # SSM/ECR/Logs/STS endpoints: less NAT traffic
flow_logs = true                              # VPC flow logs to CloudWatch Logs

[runners]
mode = {q(a.mode)}                             # "static" | "autoscaled"
count = {a.count}                                     # static mode: <name>-runner-01..NN
instance_type = {q(a.instance_type)}
volume_size = 50                              # GiB, gp3, encrypted
volume_type = "gp3"
# volume_iops = 3000
# volume_throughput = 125                     # MiB/s, gp3 only
# ami_id = "ami-..."                          # default: latest Ubuntu 22.04 from Canonical
labels = []                                   # added to self-hosted, linux, x64
ephemeral = false                             # true: one job per instance (JIT runners)
ssh_ingress_cidrs = []                        # empty: SSH off, use Session Manager
# http_ingress_cidrs = ["10.0.0.0/16"]        # default: the VPC only

# [[runners.pools]]                           # autoscaled mode: one Auto Scaling group each
# name = "default"
# min_size = 0
# max_size = 5
# instance_types = ["t3.medium", "t3a.medium"]
# on_demand_percentage_above_base = 0        # 0 = all spot above the base
# warm_pool_size = 0
# idle = 0                                    # hot idle runners kept ready (<= max_size)
# [[runners.pools.schedules]]
# name = "office-hours"
# recurrence = "0 8 * * MON-FRI"
# min_size = 2

[github]
url = "https://github.com"                    # or your GitHub Enterprise Server URL
owner = {q(a.owner)}
{repo_line}
auth = "app"                                  # "app" | "pat"; secrets live in SSM, never here
# app_id = "123456"                           # the defaults of `runnerfleet github configure`
# installation_id = 1234567                   #   --app-id / --installation-id (flags win)

[monitoring]
log_retention_days = 30
# alarm_sns_topic_arn = "arn:aws:sns:..."
detailed_monitoring = false                   # one-minute EC2 metrics, $2.10/instance-month

[control_plane]
enabled = true
"""
