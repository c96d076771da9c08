"""The resource (ARN) an AWS request acts on, built as AWS builds it for IAM, and its tags.

moto authorizes most services against the resource "*" (its `_determine_resource` exists for
IAM, STS, SQS; S3 builds bucket/object ARNs), so a policy's Resource element decided nothing.
`targets` builds, for the actions below, the ARN(s) IAM evaluates, from the request's
parameters and moto's backends (an Auto Scaling group's ARN carries its id), with the
resource's tags for `aws:ResourceTag/<key>` (and the service's own `<svc>:ResourceTag/<key>`)
conditions (an EC2 instance also answers `ec2:InstanceID`), and of the caller
(`ec2:SourceInstanceARN` for a host's session, which the sandbox names after its instance as
EC2 does). Every target must be allowed; one explicit Deny refuses.

  service        | actions                                       | resource evaluated
  ---------------+-----------------------------------------------+--------------------------------
  ssm            | Get/Put/DeleteParameter, GetParameterHistory, | parameter/<name without its
                 | Label/UnlabelParameterVersion, GetParameters, | leading "/"> (one per name;
                 | DeleteParameters, GetParametersByPath (path), | tags: the parameter's)
                 | Add/RemoveTagsFrom/ListTagsForResource        |
                 | DescribeParameters                            | "*"
  dynamodb       | any call naming TableName (+IndexName),       | table/<t>[/index/<i>]
                 | RequestItems (batch) or TransactItems (each   | (transactions: each item with
                 | item, with its kind's action); ResourceArn    | its own action)
                 | ListTables, DescribeLimits, DescribeEndpoints | "*"
  autoscaling    | any call naming AutoScalingGroupName (except  | autoScalingGroup:<id>:auto-
                 | Describe*); TerminateInstanceInAutoScaling-   | ScalingGroupName/<name> ("*" as
                 | Group, SetInstanceHealth (the instance's      | id while it does not exist;
                 | group)                                        | tags: the group's)
                 | Describe*                                     | "*"
  ec2            | Terminate/Stop/Start/RebootInstances,         | instance/<id> (tags: its)
                 | Create/DeleteTags (instance, volume,          | <type>/<id> by the id's prefix
                 | security-group, subnet, vpc, launch-template, |
                 | network-interface, image, snapshot)           |
                 | Describe*                                     | "*"
  kms            | calls naming KeyId (alias resolved to its     | key/<id>
                 | key); List*, CreateKey                        | "*"
  lambda         | calls on /functions/<name>, CreateFunction    | function:<name>
                 | ListFunctions                                 | "*"
  events         | PutEvents                                     | event-bus/<bus> (each entry)
                 | Put/Delete/Describe/Enable/DisableRule,       | rule/[<bus>/]<name>
                 | Put/RemoveTargets, ListTargetsByRule          |
  cloudwatch     | PutMetricData, Describe*, List*, GetMetric*   | "*"
  logs           | calls naming logGroupName (+logStreamName)    | log-group:<g>[:log-stream:<s>]
                 |                                               | (a group also as log-group:<g>:*)
  s3, sqs, sts,  | moto's own resource (bucket/object ARN, queue | as moto determines it
  iam            | ARN, role ARN)                                |

Every other action (e.g. ec2:RunInstances, ec2:CreateLaunchTemplate, autoscaling:Create-
LaunchConfiguration, secretsmanager:*, xray:*, cloudwatch:PutMetricAlarm, sqs calls on a
queue moto does not know) keeps moto's "*", and there an Allow statement matches by its
actions alone: the sandbox never refuses on a resource it cannot name.

`implied` lists further actions one request needs: ssm PutParameter with Tags also needs
ssm:AddTagsToResource on the parameter.

`passed_roles` lists the roles a request hands to a service (iam:PassRole, authorized for the
caller like any action): lambda CreateFunction/UpdateFunctionConfiguration (Role), ec2
RunInstances (IamInstanceProfile or the launch template's), autoscaling Create/Update-
AutoScalingGroup (the launch template's instance profile, directly or in a
MixedInstancesPolicy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

STAR = "*"
EC2_TYPES = {
    "i": "instance",
    "vol": "volume",
    "sg": "security-group",
    "subnet": "subnet",
    "vpc": "vpc",
    "lt": "launch-template",
    "eni": "network-interface",
    "snap": "snapshot",
}
TRANSACTION_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
_LAMBDA_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/?]+)")


@dataclass(frozen=True)
class Target:
    """One resource a request acts on: the ARN(s) IAM matches (any one suffices), the
    condition keys the sandbox knows for it, and the key prefixes it answers in full (a key
    under such a prefix that is absent is known to be absent, e.g. a tag the resource lacks)."""

    arns: tuple[str, ...]
    context: Mapping[str, str] = field(default_factory=dict)
    known: tuple[str, ...] = ()
    action: str | None = None  # a different action for this target (transaction items)

    @property
    def arn(self) -> str:
        return self.arns[0]


@dataclass(frozen=True)
class Request:
    action: str  # "ssm:GetParameter"
    region: str
    account: str
    path: str  # the URL path (and query)
    params: Mapping[str, Any]

    @property
    def service(self) -> str:
        return self.action.partition(":")[0]

    @property
    def operation(self) -> str:
        return self.action.partition(":")[2]

    def arn(self, service: str, resource: str, *, region: str | None = None) -> str:
        r = self.region if region is None else region
        return f"arn:aws:{service}:{r}:{self.account}:{resource}"


def params_of(body: Any, path: str) -> dict[str, Any]:
    """The request's parameters: a JSON body, or the form body and the URL query (last wins)."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else body
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            return doc
    found: dict[str, Any] = {}
    query = path.partition("?")[2]
    for text in (query, raw if isinstance(raw, str) else ""):
        for key, values in parse_qs(text, keep_blank_values=True).items():
            found[key] = values[-1]
    return found


def _numbered(params: Mapping[str, Any], prefix: str) -> list[str]:
    """Query-protocol lists: `InstanceId.1`, `InstanceId.2`, ... (or a single `InstanceId`)."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\.member)?\.\d+$")
    values = [str(v) for k, v in sorted(params.items()) if pattern.match(k)]
    if not values and isinstance(params.get(prefix), str):
        values = [str(params[prefix])]
    return values


def _tag_context(tags: Mapping[str, str], service: str) -> tuple[dict[str, str], tuple[str, ...]]:
    prefixes = ("aws:resourcetag/", f"{service}:resourcetag/")
    context = {f"{p}{k}".lower(): str(v) for k, v in tags.items() for p in prefixes}
    return context, prefixes


def _tagged(arns: tuple[str, ...], tags: Mapping[str, str] | None, service: str) -> Target:
    if tags is None:
        return Target(arns)
    context, known = _tag_context(tags, service)
    return Target(arns, context, known)


# ---- SSM -----------------------------------------------------------------------------------------
def parameter_arn(req: Request, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return req.arn("ssm", f"parameter/{name.lstrip('/')}")


def _parameter_tags(req: Request, name: str) -> dict[str, str]:
    from moto.ssm.models import ssm_backends

    backend = ssm_backends[req.account][req.region]
    if name.startswith("arn:"):
        name = "/" + name.partition(":parameter/")[2]
    if backend.get_parameter(name) is None:
        return {}
    tags: dict[str, str] = backend.list_tags_for_resource("Parameter", name)
    return dict(tags)


def _ssm(req: Request) -> list[Target] | None:
    op, p = req.operation, req.params
    if op == "DescribeParameters":
        return [Target((STAR,))]
    names: list[str] = []
    if op in (
        "GetParameter",
        "PutParameter",
        "DeleteParameter",
        "GetParameterHistory",
        "LabelParameterVersion",
        "UnlabelParameterVersion",
    ):
        names = [str(p.get("Name", ""))]
    elif op in ("GetParameters", "DeleteParameters"):
        names = [str(n) for n in p.get("Names", [])]
    elif op == "GetParametersByPath":
        path = str(p.get("Path", "/"))
        return [Target((parameter_arn(req, path),))]
    elif op in ("AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource"):
        if p.get("ResourceType") != "Parameter":
            return None
        names = [str(p.get("ResourceId", ""))]
    else:
        return None
    return [
        _tagged((parameter_arn(req, n.partition(":")[0]),), _parameter_tags(req, n), "ssm")
        for n in names
    ]


# ---- DynamoDB ------------------------------------------------------------------------------------
def _table_arn(req: Request, table: str, index: str | None = None) -> str:
    if table.startswith("arn:"):
        return table
    return req.arn("dynamodb", f"table/{table}" + (f"/index/{index}" if index else ""))


def _dynamodb(req: Request) -> list[Target] | None:
    op, p = req.operation, req.params
    if op in ("ListTables", "DescribeLimits", "DescribeEndpoints"):
        return [Target((STAR,))]
    if op in ("TransactWriteItems", "TransactGetItems"):
        found = []
        for item in p.get("TransactItems", []):
            for kind, body in item.items() if isinstance(item, dict) else ():
                if kind in TRANSACTION_ITEM_ACTIONS and isinstance(body, dict):
                    arn = _table_arn(req, str(body.get("TableName", "")))
                    found.append(Target((arn,), action=TRANSACTION_ITEM_ACTIONS[kind]))
        return found or None
    if "TableName" in p:
        index = p.get("IndexName")
        return [Target((_table_arn(req, str(p["TableName"]), str(index) if index else None),))]
    if isinstance(p.get("RequestItems"), dict):
        return [Target((_table_arn(req, str(t)),)) for t in p["RequestItems"]]
    if "ResourceArn" in p:
        return [Target((str(p["ResourceArn"]),))]
    return None


# ---- Auto Scaling --------------------------------------------------------------------------------
def _groups(req: Request) -> dict[str, Any]:
    from moto.autoscaling.models import autoscaling_backends

    groups: dict[str, Any] = autoscaling_backends[req.account][req.region].autoscaling_groups
    return groups


def _group_target(req: Request, name: str) -> Target:
    group = _groups(req).get(name)
    if group is None:
        arn = req.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{name}")
        return _tagged((arn,), {}, "autoscaling")
    tags = {str(t["Key"]): str(t.get("Value", "")) for t in group.tags}
    return _tagged((str(group.arn),), tags, "autoscaling")


def _autoscaling(req: Request) -> list[Target] | None:
    op, p = req.operation, req.params
    if op.startswith("Describe"):
        return [Target((STAR,))]
    if p.get("AutoScalingGroupName"):
        return [_group_target(req, str(p["AutoScalingGroupName"]))]
    if op in ("TerminateInstanceInAutoScalingGroup", "SetInstanceHealth"):
        instance = str(p.get("InstanceId", ""))
        for name, group in _groups(req).items():
            if any(s.instance.id == instance for s in group.instance_states):
                return [_group_target(req, name)]
    return None


# ---- EC2 -----------------------------------------------------------------------------------------
def _ec2_tags(req: Request, resource_id: str) -> dict[str, str]:
    from moto.ec2.models import ec2_backends

    return dict(ec2_backends[req.account][req.region].tags.get(resource_id, {}))


def _ec2_target(req: Request, resource_id: str) -> Target | None:
    kind = EC2_TYPES.get(resource_id.partition("-")[0])
    if kind is None:
        return None
    target = _tagged((req.arn("ec2", f"{kind}/{resource_id}"),), _ec2_tags(req, resource_id), "ec2")
    if kind != "instance":
        return target
    return Target(target.arns, {**target.context, "ec2:instanceid": resource_id}, target.known)


def caller_context(caller_arn: str, region: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Keys of the caller: ec2:SourceInstanceARN for a host's instance-profile session (the
    sandbox names it after the instance, as EC2 does); known absent for every other caller."""
    account = caller_arn.split(":")[4] if caller_arn.count(":") >= 5 else ""
    session = caller_arn.rsplit("/", 1)[-1] if ":assumed-role/" in caller_arn else ""
    if re.fullmatch(r"i-[0-9a-f]{8,17}", session):
        arn = f"arn:aws:ec2:{region}:{account}:instance/{session}"
        return {"ec2:sourceinstancearn": arn}, ("ec2:sourceinstancearn",)
    return {}, ("ec2:sourceinstancearn",)


def _ec2(req: Request) -> list[Target] | None:
    op, p = req.operation, req.params
    if op.startswith("Describe"):
        return [Target((STAR,))]
    if op in ("TerminateInstances", "StopInstances", "StartInstances", "RebootInstances"):
        ids = _numbered(p, "InstanceId")
    elif op in ("CreateTags", "DeleteTags"):
        ids = _numbered(p, "ResourceId")
    else:
        return None
    found = [_ec2_target(req, i) for i in ids]
    if not found or any(t is None for t in found):
        return None
    return [t for t in found if t is not None]


# ---- KMS, Lambda, EventBridge, CloudWatch, Logs --------------------------------------------------
def _kms(req: Request) -> list[Target] | None:
    op, key = req.operation, req.params.get("KeyId")
    if op.startswith("List") or op == "CreateKey":
        return [Target((STAR,))]
    if not key:
        return None
    key = str(key)
    if key.startswith("alias/") or ":alias/" in key:
        from moto.kms.models import kms_backends

        try:
            key = kms_backends[req.account][req.region].any_id_to_key_id(key)
        except Exception:  # an unknown alias: KMS answers NotFound after authorizing "*"
            return None
    if key.startswith("arn:"):
        return [Target((key,))]
    return [Target((req.arn("kms", f"key/{key}"),))]


def _lambda(req: Request) -> list[Target] | None:
    op, p = req.operation, req.params
    if op == "ListFunctions":
        return [Target((STAR,))]
    match = _LAMBDA_PATH.match(req.path)
    name = unquote(match.group(1)) if match else None
    if op == "CreateFunction":
        name = str(p.get("FunctionName") or "") or None
    if not name:
        return None
    if name.startswith("arn:"):
        return [Target((name,))]
    return [Target((req.arn("lambda", f"function:{name.partition(':')[0]}"),))]


def _events(req: Request) -> list[Target] | None:
    op, p = req.operation, req.params

    def bus_name(value: Any) -> str:
        text = str(value or "default")
        return text.rpartition("/")[2] if text.startswith("arn:") else text

    if op == "PutEvents":
        buses = {bus_name(e.get("EventBusName")) for e in p.get("Entries", [])} or {"default"}
        return [Target((req.arn("events", f"event-bus/{b}"),)) for b in sorted(buses)]
    rule = p.get("Name") if op.endswith("Rule") else p.get("Rule")
    if op not in (
        "PutRule",
        "DeleteRule",
        "DescribeRule",
        "EnableRule",
        "DisableRule",
        "PutTargets",
        "RemoveTargets",
        "ListTargetsByRule",
    ):
        return None
    if not rule:
        return None
    bus = bus_name(p.get("EventBusName"))
    path = f"rule/{rule}" if bus == "default" else f"rule/{bus}/{rule}"
    return [Target((req.arn("events", path),))]


def _cloudwatch(req: Request) -> list[Target] | None:
    op = req.operation
    if op == "PutMetricData" or op.startswith(("Describe", "List", "GetMetric")):
        return [Target((STAR,))]
    return None


def _logs(req: Request) -> list[Target] | None:
    group = req.params.get("logGroupName")
    if not group:
        return None
    base = req.arn("logs", f"log-group:{group}")
    stream = req.params.get("logStreamName")
    if stream:
        return [Target((f"{base}:log-stream:{stream}",))]
    return [Target((base, f"{base}:*"))]


BUILDERS: dict[str, Callable[[Request], list[Target] | None]] = {
    "ssm": _ssm,
    "dynamodb": _dynamodb,
    "autoscaling": _autoscaling,
    "ec2": _ec2,
    "kms": _kms,
    "lambda": _lambda,
    "events": _events,
    "cloudwatch": _cloudwatch,
    "logs": _logs,
}


def targets(req: Request) -> list[Target] | None:
    """The resources `req` acts on, or None when the table does not know its action."""
    builder = BUILDERS.get(req.service)
    return builder(req) if builder is not None else None


def implied(req: Request) -> list[tuple[str, Target]]:
    """Further actions AWS authorizes for one request: ssm PutParameter with Tags also needs
    ssm:AddTagsToResource on the parameter (the AWS::SSM::Parameter docs: creating one takes
    both; pepperize/cdk-ssm-parameters-cross-region#442 shows the refusal)."""
    if req.action == "ssm:PutParameter" and req.params.get("Tags"):
        name = str(req.params.get("Name", ""))
        return [("ssm:AddTagsToResource", Target((parameter_arn(req, name),)))]
    return []


# ---- iam:PassRole --------------------------------------------------------------------------------
def _profile_roles(req: Request, profile: Mapping[str, Any] | None) -> list[str]:
    if not isinstance(profile, Mapping):
        return []
    from moto.iam.models import iam_backends

    iam = iam_backends[req.account]["aws"]
    try:
        if profile.get("Arn"):
            found = iam.get_instance_profile_by_arn(str(profile["Arn"]))
        elif profile.get("Name"):
            found = iam.get_instance_profile(str(profile["Name"]))
        else:
            return []
    except Exception:  # an unknown profile: the service refuses it on its own
        return []
    return [str(role.arn) for role in found.roles]


def _template_profile(req: Request, spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[req.account][req.region]
    try:
        if spec.get("LaunchTemplateId"):
            template = backend.get_launch_template(str(spec["LaunchTemplateId"]))
        elif spec.get("LaunchTemplateName"):
            template = backend.get_launch_template_by_name(str(spec["LaunchTemplateName"]))
        else:
            return None
        chosen = template.get_version(str(spec.get("Version") or "$Default"))
    except Exception:  # an unknown template: the service refuses it on its own
        return None
    profile = chosen.data.get("IamInstanceProfile")
    return profile if isinstance(profile, Mapping) else None


def _prefixed(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """`LaunchTemplate.LaunchTemplateId=...` (query protocol) -> {"LaunchTemplateId": ...}."""
    head = prefix + "."
    return {k[len(head) :]: v for k, v in params.items() if k.startswith(head)}


def passed_roles(req: Request) -> list[tuple[str, str]]:
    """(role ARN, service it is passed to) for each role `req` hands to a service."""
    op, p = req.action, req.params
    if op in ("lambda:CreateFunction", "lambda:UpdateFunctionConfiguration"):
        role = p.get("Role")
        return [(str(role), "lambda.amazonaws.com")] if role else []
    if op == "ec2:RunInstances":
        profile: Mapping[str, Any] | None = _prefixed(p, "IamInstanceProfile") or None
        if profile is None:
            spec = _prefixed(p, "LaunchTemplate")
            profile = _template_profile(req, spec) if spec else None
        return [(r, "ec2.amazonaws.com") for r in _profile_roles(req, profile)]
    if op in ("autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup"):
        spec = _prefixed(p, "LaunchTemplate") or _prefixed(
            p, "MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification"
        )
        template_profile = _template_profile(req, spec) if spec else None
        return [(r, "ec2.amazonaws.com") for r in _profile_roles(req, template_profile)]
    return []
