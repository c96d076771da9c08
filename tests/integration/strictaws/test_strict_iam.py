"""IAM enforced in the sandbox's AWS emulator: the dummy key is the admin's, other keys are
unknown, roles get only what their policies allow, and services assume roles only when the
trust policy names them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest
from strict_support import LAMBDA_TRUST, error_of, make_role, policy

from runnerfleet.strictaws import EC2, LAMBDA, StrictAwsError, assume

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

pytestmark = pytest.mark.emulator


def _as(creds: object, region: str = "us-east-1") -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=creds.access_key_id,  # type: ignore[attr-defined]
        aws_secret_access_key=creds.secret_access_key,  # type: ignore[attr-defined]
        aws_session_token=creds.session_token,  # type: ignore[attr-defined]
        region_name=region,
    )


def test_emulator_reports_iam_enforced(endpoint: str) -> None:
    health = httpx.get(f"{endpoint}/_strictaws/health", timeout=10).json()
    assert health["iam"] == "enforced"


def test_role_without_get_parameter_is_denied_naming_the_action(
    admin: boto3.Session, endpoint: str
) -> None:
    iam = admin.client("iam", endpoint_url=endpoint)
    arn = make_role(iam, "iam-reader", "ssm:DescribeParameters")
    admin.client("ssm", endpoint_url=endpoint).put_parameter(
        Name="/iam/param", Value="v", Type="String"
    )
    creds = assume(arn, endpoint=endpoint, service=LAMBDA, session_name="iam-reader")
    ssm = _as(creds).client("ssm", endpoint_url=endpoint)
    code, message, status = error_of(lambda: ssm.get_parameter(Name="/iam/param"))
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (
        "User: arn:aws:sts::123456789012:assumed-role/iam-reader/iam-reader is not authorized "
        "to perform: ssm:GetParameter on resource: "
        "arn:aws:ssm:us-east-1:123456789012:parameter/iam/param because no identity-based "
        "policy allows the ssm:GetParameter action"
    )
    # A least-privilege grant scoped to the parameter's ARN is enough, as in AWS.
    scoped = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/iam/*",
            }
        ],
    }
    iam.put_role_policy(RoleName="iam-reader", PolicyName="get", PolicyDocument=json.dumps(scoped))
    assert ssm.get_parameter(Name="/iam/param")["Parameter"]["Value"] == "v"
    caller = _as(creds).client("sts", endpoint_url=endpoint).get_caller_identity()
    assert caller["Arn"] == creds.arn


def test_denied_before_validated(admin: boto3.Session, endpoint: str) -> None:
    """A call the layer would refuse is first authorized, as AWS authorizes before it validates."""
    iam = admin.client("iam", endpoint_url=endpoint)
    arn = make_role(iam, "iam-noasg", "ssm:GetParameter")
    asg = _as(assume(arn, endpoint=endpoint)).client("autoscaling", endpoint_url=endpoint)
    code, message, status = error_of(
        lambda: asg.complete_lifecycle_action(
            LifecycleHookName="h",
            AutoScalingGroupName="g",
            LifecycleActionToken="3f1c2e57-0000-4000-8000-000000000000",
            LifecycleActionResult="CONTINUE",
        )
    )
    assert (code, status) == ("AccessDenied", 403)
    assert "autoscaling:CompleteLifecycleAction" in message


def test_unknown_keys_are_refused(endpoint: str) -> None:
    stranger = boto3.Session(
        aws_access_key_id="AKIAUNKNOWN000000000",
        aws_secret_access_key="x",
        region_name="us-east-1",
    )
    code, _, _ = error_of(
        lambda: stranger.client("ssm", endpoint_url=endpoint).get_parameter(Name="/iam/param")
    )
    assert code == "InvalidClientTokenId"
    code, _, _ = error_of(lambda: stranger.client("ec2", endpoint_url=endpoint).describe_vpcs())
    assert code == "AuthFailure"


def test_services_assume_only_roles_that_trust_them(admin: boto3.Session, endpoint: str) -> None:
    iam = admin.client("iam", endpoint_url=endpoint)
    arn = make_role(iam, "iam-fn-only")
    with pytest.raises(StrictAwsError, match=r"does not allow ec2\.amazonaws\.com"):
        assume(arn, endpoint=endpoint, service=EC2)
    # A user may not assume a role whose trust policy names only a service (moto alone: HTTP 500).
    sts = admin.client("sts", endpoint_url=endpoint)
    code, message, _ = error_of(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="me"))
    assert code == "AccessDenied"
    assert "sts:AssumeRole" in message
    host_trust = dict(LAMBDA_TRUST)
    host_trust["Statement"] = [
        {"Effect": "Allow", "Principal": {"Service": EC2}, "Action": "sts:AssumeRole"}
    ]
    host = iam.create_role(RoleName="iam-host", AssumeRolePolicyDocument=json.dumps(host_trust))
    iam.put_role_policy(
        RoleName="iam-host", PolicyName="p", PolicyDocument=policy("ec2:DescribeInstances")
    )
    creds = assume(host["Role"]["Arn"], endpoint=endpoint, service=EC2, session_name="i-0abc")
    _as(creds).client("ec2", endpoint_url=endpoint).describe_instances()
    code, message, status = error_of(
        lambda: _as(creds).client("ec2", endpoint_url=endpoint).describe_vpcs()
    )
    assert (code, status) == ("UnauthorizedOperation", 403)
    assert message == (
        "You are not authorized to perform this operation. User: "
        "arn:aws:sts::123456789012:assumed-role/iam-host/i-0abc is not authorized to perform: "
        "ec2:DescribeVpcs because no identity-based policy allows the ec2:DescribeVpcs action"
    )


def test_signed_lambda_reads_pass_the_signature_check(admin: boto3.Session, endpoint: str) -> None:
    """moto hashes the headers as the body of a bodiless Lambda GET; the layer fixes that."""
    functions = admin.client("lambda", endpoint_url=endpoint).list_functions()
    assert "Functions" in functions


def test_signed_requests_with_encoded_paths_and_queries_pass(
    admin: boto3.Session, endpoint: str
) -> None:
    """moto checks signatures on the decoded path and query; the layer re-encodes them, so
    Terraform's S3 backend (prefix=env:/) and Lambda calls by ARN are not refused."""
    s3 = admin.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="strict-state")
    s3.put_object(Bucket="strict-state", Key="env:/a b+c", Body=b"x")
    assert s3.list_objects_v2(Bucket="strict-state", Prefix="env:/")["KeyCount"] == 1
    assert s3.get_object(Bucket="strict-state", Key="env:/a b+c")["Body"].read() == b"x"
    lam = admin.client("lambda", endpoint_url=endpoint)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:strict-none"
    code, _, _ = error_of(lambda: lam.get_function(FunctionName=arn))
    assert code == "ResourceNotFoundException"


def test_bucket_policies_apply_with_aws_request_context(
    admin: boto3.Session, endpoint: str
) -> None:
    """The TLS-only bucket policy the stack writes lets SDK calls through (they use HTTPS in
    AWS; moto alone denied every object call); an unconditional Deny still refuses."""
    s3 = admin.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="strict-tls-only")
    deny_insecure = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::strict-tls-only", "arn:aws:s3:::strict-tls-only/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    s3.put_bucket_policy(Bucket="strict-tls-only", Policy=json.dumps(deny_insecure))
    s3.put_object(Bucket="strict-tls-only", Key="agent.tar.gz", Body=b"x")
    assert s3.get_object(Bucket="strict-tls-only", Key="agent.tar.gz")["Body"].read() == b"x"

    deny_put = dict(deny_insecure)
    deny_put["Statement"] = [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::strict-tls-only/*",
        }
    ]
    s3.put_bucket_policy(Bucket="strict-tls-only", Policy=json.dumps(deny_put))
    _, _, status = error_of(lambda: s3.put_object(Bucket="strict-tls-only", Key="o", Body=b"y"))
    assert status == 403


def test_allow_with_a_condition_the_sandbox_cannot_know_is_not_refused(
    admin: boto3.Session, endpoint: str
) -> None:
    iam = admin.client("iam", endpoint_url=endpoint)
    arn = make_role(iam, "iam-tagged")
    tagged = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ssm:DescribeParameters",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/runnerfleet:fleet": "demo"}},
            }
        ],
    }
    iam.put_role_policy(RoleName="iam-tagged", PolicyName="t", PolicyDocument=json.dumps(tagged))
    ssm = _as(assume(arn, endpoint=endpoint)).client("ssm", endpoint_url=endpoint)
    assert "Parameters" in ssm.describe_parameters()


def test_cloudwatch_actions_use_the_iam_prefix(admin: boto3.Session, endpoint: str) -> None:
    """CloudWatch signs as `monitoring`; IAM names its actions `cloudwatch:*` (moto alone
    asked for monitoring:PutMetricData and refused a correctly granted role)."""
    iam = admin.client("iam", endpoint_url=endpoint)
    arn = make_role(iam, "iam-metrics", "cloudwatch:PutMetricData")
    cw = _as(assume(arn, endpoint=endpoint)).client("cloudwatch", endpoint_url=endpoint)
    cw.put_metric_data(Namespace="runnerfleet", MetricData=[{"MetricName": "q", "Value": 1.0}])


def test_admin_survives_a_moto_reset_and_in_thread_server_restores_moto() -> None:
    from moto import settings

    from runnerfleet.strictaws.server import start_strict_server

    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    url, stop = start_strict_server()
    try:
        assert settings.INITIAL_NO_AUTH_ACTION_COUNT == 0
        httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
        admin = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        # moto forgot every user; the layer made the admin again (IAM is still enforced)
        users = admin.client("iam", endpoint_url=url).list_users()["Users"]
        assert [u["UserName"] for u in users] == ["runnerfleet-sandbox-admin"]
    finally:
        stop()
    assert before == settings.INITIAL_NO_AUTH_ACTION_COUNT


def test_transactions_are_authorized_item_by_item(admin: boto3.Session, endpoint: str) -> None:
    """AWS has no dynamodb:TransactWriteItems action: each item needs its own kind's action
    (moto alone asked for TransactWriteItems and refused a correctly granted role)."""
    ddb_admin = admin.client("dynamodb", endpoint_url=endpoint)
    ddb_admin.create_table(
        TableName="iam-tx",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    iam = admin.client("iam", endpoint_url=endpoint)
    arn = make_role(iam, "iam-tx", "dynamodb:PutItem")
    ddb = _as(assume(arn, endpoint=endpoint)).client("dynamodb", endpoint_url=endpoint)
    put: TransactWriteItemTypeDef = {"Put": {"TableName": "iam-tx", "Item": {"pk": {"S": "a"}}}}
    update: TransactWriteItemTypeDef = {
        "Update": {
            "TableName": "iam-tx",
            "Key": {"pk": {"S": "b"}},
            "UpdateExpression": "SET n = :n",
            "ExpressionAttributeValues": {":n": {"N": "1"}},
        }
    }
    ddb.transact_write_items(TransactItems=[put])  # PutItem alone is enough for a Put
    code, message, _ = error_of(lambda: ddb.transact_write_items(TransactItems=[put, update]))
    assert code == "AccessDeniedException"
    assert message.endswith(
        "is not authorized to perform: dynamodb:UpdateItem on resource: "
        "arn:aws:dynamodb:us-east-1:123456789012:table/iam-tx because no identity-based policy "
        "allows the dynamodb:UpdateItem action"
    )
