"""Which requests the strict layer looks into, and AWS's error shapes per protocol."""

from __future__ import annotations

import json

from runnerfleet.strictaws import wire
from runnerfleet.strictaws.rules import Refusal


def _auth(service: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )


def test_unwatched_calls_are_left_alone_without_reading_the_body() -> None:
    ssm_get = wire.Request(
        "POST", "/", {"Authorization": _auth("ssm"), "X-Amz-Target": "AmazonSSM.GetParameter"}
    )
    assert wire.operation(ssm_get) is None
    lam_get = wire.Request("GET", "/2015-03-31/functions/fn", {"Authorization": _auth("lambda")})
    assert wire.operation(lam_get) is None
    ec2 = wire.Request("POST", "/", {"Authorization": _auth("ec2")})
    assert wire.operation(ec2) is None


def test_parse_each_protocol() -> None:
    put = wire.Request(
        "POST", "/", {"Authorization": _auth("ssm"), "X-Amz-Target": "AmazonSSM.PutParameter"}
    )
    call = wire.parse(put, json.dumps({"Name": "/a", "Value": "v"}).encode())
    assert call is not None and (call.service, call.operation) == ("ssm", "PutParameter")
    conc = wire.Request(
        "PUT", "/2017-10-31/functions/my-fn/concurrency", {"Authorization": _auth("lambda")}
    )
    call = wire.parse(conc, b'{"ReservedConcurrentExecutions": 5}')
    assert call is not None and call.params["FunctionName"] == "my-fn"
    asg = wire.Request("POST", "/", {"Authorization": _auth("autoscaling")})
    call = wire.parse(asg, b"Action=SetDesiredCapacity&AutoScalingGroupName=g&DesiredCapacity=4")
    assert call is not None and call.params["DesiredCapacity"] == "4"
    assert wire.parse(asg, b"Action=DescribeAutoScalingGroups") is None


def test_error_shapes() -> None:
    refusal = Refusal("ValidationError", "a < b & c")
    status, headers, body = wire.error_response("autoscaling", refusal)
    assert status == 400 and b"<Code>ValidationError</Code>" in body
    assert b"a &lt; b &amp; c" in body
    _, headers, body = wire.error_response("ssm", Refusal("ValidationException", "m"))
    assert json.loads(body) == {"__type": "ValidationException", "message": "m"}
    _, headers, body = wire.error_response("lambda", Refusal("InvalidParameterValueException", "m"))
    assert ("x-amzn-ErrorType", "InvalidParameterValueException") in headers
    xml = (
        b"<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: x is not "
        b"authorized to perform: ssm:GetParameter</Message></Error></Errors></ErrorResponse>"
    )
    rewritten = wire.rewrite_auth_error("ssm", xml, 403)
    assert rewritten is not None
    assert json.loads(rewritten[2])["__type"] == "AccessDeniedException"
    assert rewritten[0] == 400  # SSM answers AccessDeniedException with 400; Lambda with 403
    assert wire.rewrite_auth_error("lambda", xml, 403)[0] == 403  # type: ignore[index]
