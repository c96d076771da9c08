"""A retried PutItem whose first attempt landed is answered as that attempt was; a repeated
call (attempt 1) and another client's item (attempt 2, other attributes) still meet the
condition and are refused, through the strict emulator's app as the sandbox runs it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest

from runnerfleet.strictaws import retries
from runnerfleet.strictaws.server import start_strict_server

LOCK = {"LockID": {"S": "bucket/key"}, "Info": {"S": '{"ID":"a1"}'}}


def test_attempt_number_of_the_sdk_header() -> None:
    assert retries.attempt("attempt=2; max=5") == 2
    assert retries.attempt("ttl=20261203T000000Z; attempt=3; max=5") == 3
    assert retries.attempt(None) == 1 and retries.attempt("") == 1


def test_a_landed_retry_needs_a_retry_a_condition_and_the_same_item() -> None:
    request = {
        "TableName": "t",
        "Item": LOCK,
        "ConditionExpression": "attribute_not_exists(LockID)",
    }
    assert retries.is_landed_retry(request, dict(LOCK), 2)
    assert not retries.is_landed_retry(request, dict(LOCK), 1), "a repeated call, not a retry"
    other = {**LOCK, "Info": {"S": '{"ID":"b2"}'}}
    assert not retries.is_landed_retry(request, other, 2), "another client's lock"
    assert not retries.is_landed_retry(request, None, 2), "nothing stored: moto decides"
    unconditional = {"TableName": "t", "Item": LOCK}
    assert not retries.is_landed_retry(unconditional, dict(LOCK), 2)


@pytest.fixture(scope="module")
def ddb() -> Iterator[Any]:
    url, stop = start_strict_server(enforce_iam=False)
    try:
        client = boto3.client(
            "dynamodb", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        client.create_table(
            TableName="locks",
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client
    finally:
        stop()


def _put(ddb: Any, item: dict[str, Any], attempt: int) -> None:
    def as_attempt(request: Any, **_: Any) -> None:
        request.headers["amz-sdk-request"] = f"attempt={attempt}; max=5"

    ddb.meta.events.register("before-send.dynamodb.PutItem", as_attempt)
    try:
        ddb.put_item(
            TableName="locks", Item=item, ConditionExpression="attribute_not_exists(LockID)"
        )
    finally:
        ddb.meta.events.unregister("before-send.dynamodb.PutItem", as_attempt)


def test_the_emulator_answers_a_landed_retry_and_refuses_the_rest(ddb: Any) -> None:
    _put(ddb, LOCK, attempt=1)
    _put(ddb, LOCK, attempt=2)  # the SDK's retry of the lock it wrote: answered as before
    for item, attempt in ((LOCK, 1), ({**LOCK, "Info": {"S": '{"ID":"b2"}'}}, 2)):
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            _put(ddb, item, attempt)
        assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    stored = ddb.get_item(TableName="locks", Key={"LockID": LOCK["LockID"]})["Item"]
    assert stored == LOCK


def test_only_a_putitem_sent_again_is_looked_at() -> None:
    put = {"HTTP_X_AMZ_TARGET": retries.PUT_ITEM}
    assert retries.retry_attempt({**put, "HTTP_AMZ_SDK_REQUEST": "attempt=2; max=5"}) == 2
    assert retries.retry_attempt({**put, "HTTP_AMZ_SDK_REQUEST": "attempt=1; max=5"}) == 0
    other = {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem", "HTTP_AMZ_SDK_REQUEST": "attempt=3"}
    assert retries.retry_attempt(other) == 0
