"""Resources that exist in AWS but not in the Terraform state: find them, import them.

After a run is killed mid-apply, AWS may hold resources the state never recorded. The next
plan wants to create them again and AWS refuses (EntityAlreadyExists and friends), or makes
duplicates. `find_orphans` takes a plan's JSON and looks up every resource the plan would
create: by its unique name (IAM, logs, SSM, DynamoDB, Lambda, SQS, EventBridge, CloudWatch,
SNS, KMS aliases, launch templates, Auto Scaling groups) or, for EC2 network resources and
instances, by the fleet's tags (`runnerfleet:fleet` plus the planned `Name`). Each find is an
`Orphan` with the Terraform address and the import id; `import_blocks` renders them as
Terraform `import` blocks (the next plan then imports instead of creating) and
`manual_imports` as what a person runs to import them by hand.

Pure except for the `Clients` callable that hands out boto3 clients (the Target's).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from runnerfleet.vocabulary import FLEET_TAG

# The stack's file of import blocks for resources missing from the state.
IMPORTS_FILE = "runnerfleet_imports.tf"

Clients = Callable[[str], Any]
Lookup = Callable[[Clients, dict[str, Any]], str | None]

# Error texts with which AWS refuses to create what already exists.
ALREADY_EXISTS = (
    "EntityAlreadyExists",
    "ResourceAlreadyExistsException",
    "ResourceInUseException",
    "AlreadyExists",
    "InvalidGroup.Duplicate",
    "ParameterAlreadyExists",
    "ResourceConflictException",
    "already exists",
)


def failed_because_it_exists(output: str) -> bool:
    """True when terraform's error output says AWS refused to create an existing resource."""
    return any(marker in output for marker in ALREADY_EXISTS)


@dataclass(frozen=True)
class Orphan:
    address: str
    type: str
    import_id: str

    def to_json(self) -> dict[str, str]:
        return {"address": self.address, "type": self.type, "id": self.import_id}


_MISSING_CODES = (
    "ResourceNotFoundException",
    "ParameterNotFound",
    "AWS.SimpleQueueService.NonExistentQueue",
    "ValidationError",
)


def _missing(exc: Exception) -> bool:
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return "NotFound" in code or "NoSuch" in code or code in _MISSING_CODES
    return False


def _try(fn: Callable[[], str | None]) -> str | None:
    try:
        return fn()
    except botocore.exceptions.ClientError as exc:
        if _missing(exc):
            return None
        raise


# ---- lookups by unique name -------------------------------------------------------------
def _iam_role(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    return _try(lambda: c("iam").get_role(RoleName=name) and name) if name else None


def _iam_profile(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    return (
        _try(lambda: c("iam").get_instance_profile(InstanceProfileName=name) and name)
        if name
        else None
    )


def _iam_role_policy(c: Clients, a: dict[str, Any]) -> str | None:
    role, name = a.get("role"), a.get("name")
    if not (role and name):
        return None
    return _try(
        lambda: c("iam").get_role_policy(RoleName=role, PolicyName=name) and f"{role}:{name}"
    )


def _iam_policy(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    if not name:
        return None
    for page in c("iam").get_paginator("list_policies").paginate(Scope="Local"):
        for pol in page["Policies"]:
            if pol["PolicyName"] == name:
                return str(pol["Arn"])
    return None


def _iam_attachment(c: Clients, a: dict[str, Any]) -> str | None:
    role, arn = a.get("role"), a.get("policy_arn")
    if not (role and arn):
        return None

    def find() -> str | None:
        pols = c("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        return f"{role}/{arn}" if any(p["PolicyArn"] == arn for p in pols) else None

    return _try(find)


def _log_group(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    if not name:
        return None
    groups = c("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return name if any(g["logGroupName"] == name for g in groups) else None


def _ssm_parameter(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    return _try(lambda: c("ssm").get_parameter(Name=name) and name) if name else None


def _dynamodb_table(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    return _try(lambda: c("dynamodb").describe_table(TableName=name) and name) if name else None


def _lambda_function(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("function_name")
    return _try(lambda: c("lambda").get_function(FunctionName=name) and name) if name else None


def _sqs_queue(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    return _try(lambda: str(c("sqs").get_queue_url(QueueName=name)["QueueUrl"])) if name else None


def _event_rule(c: Clients, a: dict[str, Any]) -> str | None:
    name, bus = a.get("name"), a.get("event_bus_name") or "default"
    if not name:
        return None
    import_id = name if bus == "default" else f"{bus}/{name}"
    return _try(lambda: c("events").describe_rule(Name=name, EventBusName=bus) and import_id)


def _dashboard(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("dashboard_name")
    if not name:
        return None
    entries = c("cloudwatch").list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]
    return name if any(d["DashboardName"] == name for d in entries) else None


def _alarm(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("alarm_name")
    if not name:
        return None
    return name if c("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"] else None


def _sns_topic(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    if not name:
        return None
    for page in c("sns").get_paginator("list_topics").paginate():
        for t in page["Topics"]:
            if str(t["TopicArn"]).rsplit(":", 1)[-1] == name:
                return str(t["TopicArn"])
    return None


def _kms_alias(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    if not name:
        return None
    for page in c("kms").get_paginator("list_aliases").paginate():
        if any(al["AliasName"] == name for al in page["Aliases"]):
            return str(name)
    return None


def _launch_template(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    if not name:
        return None

    def find() -> str | None:
        lts = c("ec2").describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"]
        return str(lts[0]["LaunchTemplateId"]) if lts else None

    return _try(find)


def _asg(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    if not name:
        return None
    groups = c("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return name if groups["AutoScalingGroups"] else None


def _s3_bucket(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("bucket")
    if not name:
        return None

    def find() -> str | None:
        c("s3").head_bucket(Bucket=name)
        return str(name)

    try:
        return find()
    except botocore.exceptions.ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchBucket", "403"):
            return None
        raise


def _secret(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("name")
    if not name:
        return None
    return _try(lambda: str(c("secretsmanager").describe_secret(SecretId=name)["ARN"]))


def _function_url(c: Clients, a: dict[str, Any]) -> str | None:
    name = a.get("function_name")
    return (
        _try(lambda: c("lambda").get_function_url_config(FunctionName=name) and name)
        if name
        else None
    )


def _lambda_permission(c: Clients, a: dict[str, Any]) -> str | None:
    name, sid = a.get("function_name"), a.get("statement_id")
    if not (name and sid):
        return None

    def find() -> str | None:
        policy = json.loads(c("lambda").get_policy(FunctionName=name)["Policy"])
        sids = {st.get("Sid") for st in policy.get("Statement", [])}
        return f"{name}/{sid}" if sid in sids else None

    return _try(find)


def _event_target(c: Clients, a: dict[str, Any]) -> str | None:
    rule, tid = a.get("rule"), a.get("target_id")
    bus = a.get("event_bus_name") or "default"
    if not (rule and tid):
        return None

    def find() -> str | None:
        targets = c("events").list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]
        prefix = "" if bus == "default" else f"{bus}/"
        return f"{prefix}{rule}/{tid}" if any(t["Id"] == tid for t in targets) else None

    return _try(find)


def _sg_rule(egress: bool) -> Lookup:
    def lookup(c: Clients, a: dict[str, Any]) -> str | None:
        group = a.get("security_group_id")
        if not group:
            return None
        rules = c("ec2").describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group]}]
        )["SecurityGroupRules"]
        for r in rules:
            if (
                bool(r.get("IsEgress")) == egress
                and r.get("IpProtocol") == a.get("ip_protocol")
                and r.get("CidrIpv4") == a.get("cidr_ipv4")
                and r.get("FromPort", -1)
                == (a.get("from_port") if a.get("from_port") is not None else -1)
                and r.get("ToPort", -1)
                == (a.get("to_port") if a.get("to_port") is not None else -1)
            ):
                return str(r["SecurityGroupRuleId"])
        return None

    return lookup


def _route(c: Clients, a: dict[str, Any]) -> str | None:
    rtb, dest = a.get("route_table_id"), a.get("destination_cidr_block")
    if not (rtb and dest):
        return None

    def find() -> str | None:
        tables = c("ec2").describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
        routes = [r for t in tables for r in t.get("Routes", [])]
        return (
            f"{rtb}_{dest}" if any(r.get("DestinationCidrBlock") == dest for r in routes) else None
        )

    return _try(find)


def _rtb_association(c: Clients, a: dict[str, Any]) -> str | None:
    rtb, subnet = a.get("route_table_id"), a.get("subnet_id")
    if not (rtb and subnet):
        return None

    def find() -> str | None:
        tables = c("ec2").describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
        for t in tables:
            for assoc in t.get("Associations", []):
                if assoc.get("SubnetId") == subnet:
                    return f"{subnet}/{rtb}"
        return None

    return _try(find)


def _endpoint_rtb(c: Clients, a: dict[str, Any]) -> str | None:
    vpce, rtb = a.get("vpc_endpoint_id"), a.get("route_table_id")
    if not (vpce and rtb):
        return None

    def find() -> str | None:
        eps = c("ec2").describe_vpc_endpoints(VpcEndpointIds=[vpce])["VpcEndpoints"]
        return f"{vpce}/{rtb}" if any(rtb in e.get("RouteTableIds", []) for e in eps) else None

    return _try(find)


# ---- lookups by the fleet's tags (EC2) -----------------------------------------------------
def _tag_filters(a: dict[str, Any]) -> list[dict[str, Any]] | None:
    tags = a.get("tags") or a.get("tags_all") or {}
    if not tags.get(FLEET_TAG) or not tags.get("Name"):
        return None
    return [
        {"Name": f"tag:{FLEET_TAG}", "Values": [tags[FLEET_TAG]]},
        {"Name": "tag:Name", "Values": [tags["Name"]]},
    ]


def _by_tags(call: str, key: str, id_key: str, states: tuple[str, ...] = ()) -> Lookup:
    def lookup(c: Clients, a: dict[str, Any]) -> str | None:
        filters = _tag_filters(a)
        if filters is None:
            return None
        found = getattr(c("ec2"), call)(Filters=filters)[key]
        if key == "Reservations":
            found = [i for r in found for i in r["Instances"]]
        if states:
            found = [f for f in found if _state(f) in states]
        return str(found[0][id_key]) if len(found) == 1 else None

    return lookup


def _state(item: dict[str, Any]) -> str:
    state = item.get("State")
    if isinstance(state, dict):
        return str(state.get("Name", ""))
    return str(state or "available")


LOOKUPS: dict[str, Lookup] = {
    "aws_iam_role": _iam_role,
    "aws_iam_instance_profile": _iam_profile,
    "aws_iam_role_policy": _iam_role_policy,
    "aws_iam_policy": _iam_policy,
    "aws_iam_role_policy_attachment": _iam_attachment,
    "aws_cloudwatch_log_group": _log_group,
    "aws_ssm_parameter": _ssm_parameter,
    "aws_dynamodb_table": _dynamodb_table,
    "aws_lambda_function": _lambda_function,
    "aws_sqs_queue": _sqs_queue,
    "aws_cloudwatch_event_rule": _event_rule,
    "aws_cloudwatch_dashboard": _dashboard,
    "aws_cloudwatch_metric_alarm": _alarm,
    "aws_sns_topic": _sns_topic,
    "aws_kms_alias": _kms_alias,
    "aws_launch_template": _launch_template,
    "aws_autoscaling_group": _asg,
    "aws_s3_bucket": _s3_bucket,
    "aws_secretsmanager_secret": _secret,
    "aws_lambda_function_url": _function_url,
    "aws_lambda_permission": _lambda_permission,
    "aws_cloudwatch_event_target": _event_target,
    "aws_vpc_security_group_ingress_rule": _sg_rule(egress=False),
    "aws_vpc_security_group_egress_rule": _sg_rule(egress=True),
    "aws_route": _route,
    "aws_route_table_association": _rtb_association,
    "aws_vpc_endpoint_route_table_association": _endpoint_rtb,
    "aws_vpc": _by_tags("describe_vpcs", "Vpcs", "VpcId"),
    "aws_subnet": _by_tags("describe_subnets", "Subnets", "SubnetId"),
    "aws_internet_gateway": _by_tags(
        "describe_internet_gateways", "InternetGateways", "InternetGatewayId"
    ),
    "aws_nat_gateway": _by_tags(
        "describe_nat_gateways", "NatGateways", "NatGatewayId", ("pending", "available")
    ),
    "aws_eip": _by_tags("describe_addresses", "Addresses", "AllocationId"),
    "aws_route_table": _by_tags("describe_route_tables", "RouteTables", "RouteTableId"),
    "aws_security_group": _by_tags("describe_security_groups", "SecurityGroups", "GroupId"),
    "aws_vpc_endpoint": _by_tags(
        "describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId", ("pending", "available")
    ),
    "aws_instance": _by_tags(
        "describe_instances", "Reservations", "InstanceId", ("pending", "running", "stopped")
    ),
}


def planned_creates(plan_json: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for rc in plan_json.get("resource_changes", []):
        if rc.get("mode") == "managed" and rc.get("change", {}).get("actions") == ["create"]:
            yield rc


def find_orphans(plan_json: dict[str, Any], clients: Clients) -> tuple[list[Orphan], list[str]]:
    """Planned creates that already exist in AWS, and the errors of lookups that failed."""
    orphans: list[Orphan] = []
    errors: list[str] = []
    for rc in planned_creates(plan_json):
        lookup = LOOKUPS.get(str(rc.get("type")))
        if lookup is None:
            continue
        after = rc.get("change", {}).get("after") or {}
        try:
            found = lookup(clients, after)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            errors.append(f"{rc['address']}: {exc}")
            continue
        if found:
            orphans.append(Orphan(str(rc["address"]), str(rc["type"]), found))
    return orphans, errors


def planned_aws_creates(plan_json: dict[str, Any]) -> list[str]:
    """Addresses of the AWS resources (provider hashicorp/aws) a plan creates."""
    return [
        str(rc["address"])
        for rc in plan_json.get("resource_changes", [])
        if rc.get("mode") == "managed"
        and "create" in rc.get("change", {}).get("actions", [])
        and str(rc.get("provider_name", "")).endswith("hashicorp/aws")
    ]


def import_blocks(orphans: Iterable[Orphan]) -> str:
    """Terraform `import` blocks (root module) for the orphans."""
    out = ["# Written by runnerfleet: resources found in AWS but missing from the state."]
    for o in orphans:
        out += ["import {", f"  to = {o.address}", f"  id = {json.dumps(o.import_id)}", "}"]
    return "\n".join(out) + "\n"


def manual_imports(orphans: Iterable[Orphan], stack_dir: str, var_file: str) -> str:
    """What a person runs to import the orphans by hand: the import blocks, then a plan
    targeted at them and its apply. Not `terraform import`, which evaluates the whole
    configuration and fails ("Invalid for_each argument") when a killed apply left the
    resources a `for_each` runs over out of the state."""
    found = list(orphans)
    chdir = f"terraform -chdir={shlex.quote(stack_dir)}"
    targets = " ".join(shlex.quote(f"-target={o.address}") for o in found)
    return "\n".join([
        f"1. write these import blocks to {shlex.quote(stack_dir + '/' + IMPORTS_FILE)}:",
        import_blocks(found),
        "2. plan and apply the imports alone (-target: only these resources are evaluated):",
        f"   {chdir} plan -var-file={shlex.quote(var_file)} {targets} -out=import.tfplan",
        f"   {chdir} apply import.tfplan",
    ])  # fmt: skip
