"""IAM's Resource element enforced in the sandbox's AWS emulator: each call is authorized on the
ARN AWS builds for it (moto alone authorized every call of these services on "*", so a grant
on one parameter, table or group allowed them all), with the resource's tags for
aws:ResourceTag conditions, and a role handed to a service needs iam:PassRole."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from strict_support import LAMBDA_TRUST, error_of, lambda_zip

from runnerfleet.strictaws import LAMBDA, assume

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import TagSpecificationTypeDef

pytestmark = pytest.mark.emulator

ACCOUNT = "123456789012"
ARN = f"arn:aws:{{}}:us-east-1:{ACCOUNT}:{{}}"


def _arn(service: str, resource: str) -> str:
    return ARN.format(service, resource)


def _role(admin: boto3.Session, endpoint: str, name: str, *statements: dict[str, Any]) -> Any:
    """A Lambda role with exactly `statements`, assumed: a boto3 Session of its credentials."""
    iam = admin.client("iam", endpoint_url=endpoint)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"][
        "Arn"
    ]
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **s} for s in statements]}
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(doc))
    creds = assume(arn, endpoint=endpoint, service=LAMBDA, session_name=name)
    return boto3.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name="us-east-1",
    )


def _denied(call: Any, action: str, resource: str | None) -> tuple[str, int]:
    code, message, status = error_of(call)
    where = f" on resource: {resource}" if resource else ""
    assert message.endswith(
        f"is not authorized to perform: {action}{where} because no identity-based policy "
        f"allows the {action} action"
    ), message
    return code, status


def test_ssm_parameters_are_authorized_by_their_arn(admin: boto3.Session, endpoint: str) -> None:
    ssm_admin = admin.client("ssm", endpoint_url=endpoint)
    for name in ("/res/fleet/github/webhook-secret", "/res/other/secret", "/res/fleet/runners/i-1"):
        ssm_admin.put_parameter(Name=name, Value="v", Type="String")
    session = _role(
        admin,
        endpoint,
        "res-ssm",
        {"Action": "ssm:GetParameter", "Resource": _arn("ssm", "parameter/res/fleet/github/*")},
        {"Action": "ssm:GetParametersByPath", "Resource": _arn("ssm", "parameter/res/fleet")},
        {"Action": "ssm:DescribeParameters", "Resource": "*"},
        # AWS has no resource for DescribeParameters: a grant on ARNs allows nothing
        {"Action": "ssm:DescribeParameters", "Resource": _arn("ssm", "parameter/*")},
    )
    ssm = session.client("ssm", endpoint_url=endpoint)
    assert ssm.get_parameter(Name="/res/fleet/github/webhook-secret")["Parameter"]["Value"] == "v"
    code, status = _denied(
        lambda: ssm.get_parameter(Name="/res/other/secret"),
        "ssm:GetParameter",
        _arn("ssm", "parameter/res/other/secret"),
    )
    assert (code, status) == ("AccessDeniedException", 400)
    # the path's ARN is what GetParametersByPath is authorized on (leading "/" dropped)
    assert ssm.get_parameters_by_path(Path="/res/fleet", Recursive=True)["Parameters"]
    _denied(
        lambda: ssm.get_parameters_by_path(Path="/res/other"),
        "ssm:GetParametersByPath",
        _arn("ssm", "parameter/res/other"),
    )
    assert "Parameters" in ssm.describe_parameters()


def test_describe_actions_need_resource_star(admin: boto3.Session, endpoint: str) -> None:
    session = _role(
        admin,
        endpoint,
        "res-describe",
        {"Action": "ec2:DescribeInstances", "Resource": _arn("ec2", "instance/*")},
        {"Action": "cloudwatch:PutMetricData", "Resource": _arn("cloudwatch", "*")},
    )
    ec2 = session.client("ec2", endpoint_url=endpoint)
    code, status = _denied(lambda: ec2.describe_instances(), "ec2:DescribeInstances", None)
    assert (code, status) == ("UnauthorizedOperation", 403)
    cw = session.client("cloudwatch", endpoint_url=endpoint)
    _denied(
        lambda: cw.put_metric_data(Namespace="res", MetricData=[{"MetricName": "m", "Value": 1.0}]),
        "cloudwatch:PutMetricData",
        None,
    )


def test_dynamodb_tables_indexes_and_transaction_items(admin: boto3.Session, endpoint: str) -> None:
    ddb_admin = admin.client("dynamodb", endpoint_url=endpoint)
    for table in ("res-jobs", "res-other"):
        ddb_admin.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "pool", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-pool",
                    "KeySchema": [{"AttributeName": "pool", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    table = _arn("dynamodb", "table/res-jobs")
    session = _role(
        admin,
        endpoint,
        "res-ddb",
        {"Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"], "Resource": table},
    )
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    ddb.put_item(TableName="res-jobs", Item={"pk": {"S": "a"}, "pool": {"S": "p"}})
    code, status = _denied(
        lambda: ddb.put_item(TableName="res-other", Item={"pk": {"S": "a"}}),
        "dynamodb:PutItem",
        _arn("dynamodb", "table/res-other"),
    )
    assert (code, status) == ("AccessDeniedException", 400)
    query = {"KeyConditionExpression": "pk = :k", "ExpressionAttributeValues": {":k": {"S": "a"}}}
    assert ddb.query(TableName="res-jobs", **query)["Count"] == 1
    # an index is a resource of its own: the table's ARN does not cover it
    by_pool = {
        "IndexName": "by-pool",
        "KeyConditionExpression": "pool = :p",
        "ExpressionAttributeValues": {":p": {"S": "p"}},
    }
    _denied(
        lambda: ddb.query(TableName="res-jobs", **by_pool),
        "dynamodb:Query",
        f"{table}/index/by-pool",
    )
    put = {"Put": {"TableName": "res-jobs", "Item": {"pk": {"S": "b"}}}}
    other = {"Put": {"TableName": "res-other", "Item": {"pk": {"S": "b"}}}}
    ddb.transact_write_items(TransactItems=[put])
    _denied(
        lambda: ddb.transact_write_items(TransactItems=[put, other]),
        "dynamodb:PutItem",
        _arn("dynamodb", "table/res-other"),
    )


def _group(admin: boto3.Session, endpoint: str, name: str, tags: dict[str, str]) -> str:
    ec2 = admin.client("ec2", endpoint_url=endpoint)
    asg = admin.client("autoscaling", endpoint_url=endpoint)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt"},
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=0,
        AvailabilityZones=["us-east-1a"],
        Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": False} for k, v in tags.items()],
    )
    arn: str = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][
        0
    ]["AutoScalingGroupARN"]
    return arn


def test_autoscaling_groups_by_name_pattern_and_tag(admin: boto3.Session, endpoint: str) -> None:
    fleet_a = _group(admin, endpoint, "resfleet-a", {"runnerfleet:fleet": "resfleet"})
    _group(admin, endpoint, "resother-a", {"runnerfleet:fleet": "resfleet"})
    untagged = _group(admin, endpoint, "resfleet-b", {})
    pattern = _arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/resfleet-*")
    session = _role(
        admin,
        endpoint,
        "res-asg",
        {
            "Action": "autoscaling:SetDesiredCapacity",
            "Resource": pattern,
            "Condition": {"StringEquals": {"aws:ResourceTag/runnerfleet:fleet": "resfleet"}},
        },
    )
    asg = session.client("autoscaling", endpoint_url=endpoint)
    asg.set_desired_capacity(AutoScalingGroupName="resfleet-a", DesiredCapacity=1)
    assert ":autoScalingGroupName/resfleet-a" in fleet_a
    other_arn = admin.client("autoscaling", endpoint_url=endpoint).describe_auto_scaling_groups(
        AutoScalingGroupNames=["resother-a"]
    )["AutoScalingGroups"][0]["AutoScalingGroupARN"]
    code, status = _denied(
        lambda: asg.set_desired_capacity(AutoScalingGroupName="resother-a", DesiredCapacity=1),
        "autoscaling:SetDesiredCapacity",
        other_arn,
    )
    assert (code, status) == ("AccessDenied", 403)
    # the name matches, the tag the condition asks for is absent: refused as in AWS
    _denied(
        lambda: asg.set_desired_capacity(AutoScalingGroupName="resfleet-b", DesiredCapacity=1),
        "autoscaling:SetDesiredCapacity",
        untagged,
    )


def test_ec2_instances_by_arn_and_resource_tag(admin: boto3.Session, endpoint: str) -> None:
    ec2_admin = admin.client("ec2", endpoint_url=endpoint)
    image = ec2_admin.describe_images()["Images"][0]["ImageId"]

    def launch(tags: dict[str, str]) -> str:
        spec = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
        kwargs: dict[str, Any] = {"TagSpecifications": spec} if tags else {}
        found = ec2_admin.run_instances(ImageId=image, MinCount=1, MaxCount=1, **kwargs)
        return str(found["Instances"][0]["InstanceId"])

    ours, foreign = launch({"runnerfleet:fleet": "resfleet"}), launch({"team": "x"})
    session = _role(
        admin,
        endpoint,
        "res-ec2",
        {
            "Action": ["ec2:TerminateInstances", "ec2:CreateTags"],
            "Resource": _arn("ec2", "instance/*"),
            "Condition": {"StringEquals": {"ec2:ResourceTag/runnerfleet:fleet": "resfleet"}},
        },
    )
    ec2 = session.client("ec2", endpoint_url=endpoint)
    ec2.create_tags(Resources=[ours], Tags=[{"Key": "runnerfleet:agent-state", "Value": "idle"}])
    code, status = _denied(
        lambda: ec2.terminate_instances(InstanceIds=[ours, foreign]),
        "ec2:TerminateInstances",
        _arn("ec2", f"instance/{foreign}"),
    )
    assert (code, status) == ("UnauthorizedOperation", 403)
    ec2.terminate_instances(InstanceIds=[ours])


def test_not_resource_and_explicit_deny(admin: boto3.Session, endpoint: str) -> None:
    ssm_admin = admin.client("ssm", endpoint_url=endpoint)
    for name in ("/nr/open", "/nr/secret/key"):
        ssm_admin.put_parameter(Name=name, Value="v", Type="String")
    iam = admin.client("iam", endpoint_url=endpoint)
    session = _role(
        admin,
        endpoint,
        "res-notres",
        {"Action": "ssm:GetParameter", "NotResource": _arn("ssm", "parameter/nr/secret/*")},
    )
    ssm = session.client("ssm", endpoint_url=endpoint)
    assert ssm.get_parameter(Name="/nr/open")["Parameter"]["Value"] == "v"
    _denied(
        lambda: ssm.get_parameter(Name="/nr/secret/key"),
        "ssm:GetParameter",
        _arn("ssm", "parameter/nr/secret/key"),
    )
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "ssm:GetParameter",
                "Resource": _arn("ssm", "parameter/nr/o*"),
            }
        ],
    }
    iam.put_role_policy(RoleName="res-notres", PolicyName="deny", PolicyDocument=json.dumps(deny))
    _, message, _ = error_of(lambda: ssm.get_parameter(Name="/nr/open"))
    assert message.endswith(
        f"ssm:GetParameter on resource: {_arn('ssm', 'parameter/nr/open')} with an explicit deny "
        "in an identity-based policy"
    )


def test_lambda_kms_and_logs_resources(admin: boto3.Session, endpoint: str) -> None:
    kms_admin = admin.client("kms", endpoint_url=endpoint)
    ours = kms_admin.create_key()["KeyMetadata"]
    kms_admin.create_alias(AliasName="alias/res-ours", TargetKeyId=ours["KeyId"])
    theirs = kms_admin.create_key()["KeyMetadata"]
    logs_admin = admin.client("logs", endpoint_url=endpoint)
    for group in ("/aws/lambda/res-fn", "/aws/lambda/res-other"):
        logs_admin.create_log_group(logGroupName=group)
        logs_admin.create_log_stream(logGroupName=group, logStreamName="s")
    group_arn = _arn("logs", "log-group:/aws/lambda/res-fn")
    session = _role(
        admin,
        endpoint,
        "res-misc",
        {"Action": "kms:Encrypt", "Resource": ours["Arn"]},
        {"Action": "logs:PutLogEvents", "Resource": f"{group_arn}:*"},
        {"Action": "lambda:GetFunction", "Resource": _arn("lambda", "function:res-fn")},
    )
    kms = session.client("kms", endpoint_url=endpoint)
    kms.encrypt(KeyId="alias/res-ours", Plaintext=b"x")  # the alias's key is authorized
    _denied(
        lambda: kms.encrypt(KeyId=theirs["KeyId"], Plaintext=b"x"),
        "kms:Encrypt",
        theirs["Arn"],
    )
    logs = session.client("logs", endpoint_url=endpoint)
    event = [{"timestamp": 1, "message": "m"}]
    logs.put_log_events(logGroupName="/aws/lambda/res-fn", logStreamName="s", logEvents=event)
    _denied(
        lambda: logs.put_log_events(
            logGroupName="/aws/lambda/res-other", logStreamName="s", logEvents=event
        ),
        "logs:PutLogEvents",
        _arn("logs", "log-group:/aws/lambda/res-other:log-stream:s"),
    )
    lam = session.client("lambda", endpoint_url=endpoint)
    code, _, _ = error_of(lambda: lam.get_function(FunctionName="res-fn"))
    assert code == "ResourceNotFoundException"  # authorized, then not found
    _denied(
        lambda: lam.get_function(FunctionName="res-other"),
        "lambda:GetFunction",
        _arn("lambda", "function:res-other"),
    )


def test_passing_a_role_needs_iam_pass_role(admin: boto3.Session, endpoint: str) -> None:
    iam = admin.client("iam", endpoint_url=endpoint)
    fn_role = iam.create_role(
        RoleName="res-fn-exec", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
    )["Role"]["Arn"]
    deployer = _role(
        admin, endpoint, "res-deployer", {"Action": "lambda:CreateFunction", "Resource": "*"}
    )
    lam = deployer.client("lambda", endpoint_url=endpoint)

    def create() -> Any:
        return lam.create_function(
            FunctionName="res-passed",
            Runtime="python3.12",
            Role=fn_role,
            Handler="handler.handler",
            Code={"ZipFile": lambda_zip()},
        )

    code, status = _denied(create, "iam:PassRole", fn_role)
    assert (code, status) == ("AccessDeniedException", 403)
    grant = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": fn_role,
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            }
        ],
    }
    iam.put_role_policy(
        RoleName="res-deployer", PolicyName="pass", PolicyDocument=json.dumps(grant)
    )
    assert create()["Role"] == fn_role

    host_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    host_role = iam.create_role(
        RoleName="res-host", AssumeRolePolicyDocument=json.dumps(host_trust)
    )["Role"]["Arn"]
    iam.create_instance_profile(InstanceProfileName="res-host")
    iam.add_role_to_instance_profile(InstanceProfileName="res-host", RoleName="res-host")
    launcher = _role(
        admin, endpoint, "res-launcher", {"Action": "ec2:RunInstances", "Resource": "*"}
    )
    ec2 = launcher.client("ec2", endpoint_url=endpoint)
    image = admin.client("ec2", endpoint_url=endpoint).describe_images()["Images"][0]["ImageId"]
    code, status = _denied(
        lambda: ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, IamInstanceProfile={"Name": "res-host"}
        ),
        "iam:PassRole",
        host_role,
    )
    assert (code, status) == ("UnauthorizedOperation", 403)
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)  # no role handed over: no PassRole


def test_tags_on_put_parameter_need_add_tags_to_resource(
    admin: boto3.Session, endpoint: str
) -> None:
    """The registrar tags each registration with its instance id: AWS authorizes those tags
    with ssm:AddTagsToResource (the control-plane role lacked it; moto never asked)."""
    runners = _arn("ssm", "parameter/tagfleet/runners/*")
    session = _role(
        admin, endpoint, "res-tags", {"Action": "ssm:PutParameter", "Resource": runners}
    )
    ssm = session.client("ssm", endpoint_url=endpoint)
    ssm.put_parameter(Name="/tagfleet/runners/i-0", Value="v", Type="String")  # no tags: enough
    tags = [{"Key": "runnerfleet:instance-id", "Value": "i-1"}]
    code, status = _denied(
        lambda: ssm.put_parameter(
            Name="/tagfleet/runners/i-1", Value="v", Type="String", Tags=tags
        ),
        "ssm:AddTagsToResource",
        _arn("ssm", "parameter/tagfleet/runners/i-1"),
    )
    assert (code, status) == ("AccessDeniedException", 400)
    grant = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ssm:AddTagsToResource", "Resource": runners}],
    }
    admin.client("iam", endpoint_url=endpoint).put_role_policy(
        RoleName="res-tags", PolicyName="tags", PolicyDocument=json.dumps(grant)
    )
    ssm.put_parameter(Name="/tagfleet/runners/i-1", Value="v", Type="String", Tags=tags)


def test_a_host_acts_only_on_itself(admin: boto3.Session, endpoint: str) -> None:
    """The runner policy's "itself" conditions: ec2:SourceInstanceARN (the host's session)
    against ${ec2:InstanceID} and the registration's runnerfleet:instance-id tag."""
    from runnerfleet.strictaws import EC2

    ec2_admin = admin.client("ec2", endpoint_url=endpoint)
    image = ec2_admin.describe_images()["Images"][0]["ImageId"]
    tags: list[TagSpecificationTypeDef] = [
        {"ResourceType": "instance", "Tags": [{"Key": "runnerfleet:fleet", "Value": "self"}]}
    ]
    me, other = (
        ec2_admin.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=tags)[
            "Instances"
        ][0]["InstanceId"]
        for _ in range(2)
    )
    ssm_admin = admin.client("ssm", endpoint_url=endpoint)
    for iid in (me, other):
        ssm_admin.put_parameter(
            Name=f"/self/runners/{iid}",
            Value="jit",
            Type="String",
            Tags=[{"Key": "runnerfleet:instance-id", "Value": iid}],
        )
    source = "ec2:SourceInstanceARN"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ec2:TerminateInstances",
                "Resource": f"arn:aws:ec2:*:{ACCOUNT}:instance/*",
                "Condition": {
                    "ArnLike": {source: f"arn:aws:ec2:*:{ACCOUNT}:instance/${{ec2:InstanceID}}"}
                },
            },
            {
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": f"arn:aws:ssm:*:{ACCOUNT}:parameter/self/runners/i-*",
                "Condition": {
                    "ArnLike": {
                        source: f"arn:aws:ec2:*:{ACCOUNT}:instance/"
                        "${aws:ResourceTag/runnerfleet:instance-id}"
                    }
                },
            },
        ],
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": EC2}, "Action": "sts:AssumeRole"}
        ],
    }
    iam = admin.client("iam", endpoint_url=endpoint)
    arn = iam.create_role(RoleName="res-self", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    iam.put_role_policy(RoleName="res-self", PolicyName="p", PolicyDocument=json.dumps(policy))
    creds = assume(arn, endpoint=endpoint, service=EC2, session_name=me)
    host = boto3.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name="us-east-1",
    )
    ssm = host.client("ssm", endpoint_url=endpoint)
    assert ssm.get_parameter(Name=f"/self/runners/{me}")["Parameter"]["Value"] == "jit"
    _denied(
        lambda: ssm.get_parameter(Name=f"/self/runners/{other}"),
        "ssm:GetParameter",
        _arn("ssm", f"parameter/self/runners/{other}"),
    )
    ec2 = host.client("ec2", endpoint_url=endpoint)
    _denied(
        lambda: ec2.terminate_instances(InstanceIds=[other]),
        "ec2:TerminateInstances",
        _arn("ec2", f"instance/{other}"),
    )
    ec2.terminate_instances(InstanceIds=[me])
