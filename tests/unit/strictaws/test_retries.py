"""An SDK's retry of an invocation that was answered with success gets that answer again and
does not run twice; a retry after an error, and a new invocation, run anew. Through the
strict emulator's app as the sandbox runs it, with the PutItem of Terraform's state lock."""

from __future__ import annotations

import uuid
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


def test_only_successful_answers_are_replayed_and_only_to_retries() -> None:
    answers = retries.Answers(limit=2)
    ok = retries.Answer("200 OK", [], b"{}")
    answers.keep("a", ok)
    assert answers.replay("a", 2) == ok
    assert answers.replay("a", 1) is None, "a first attempt always runs"
    assert answers.replay(None, 3) is None
    answers.keep("a", retries.Answer("500 Internal Server Error", [], b""))
    assert answers.replay("a", 3) is None, "after an error the retry runs anew"
    for name in ("b", "c", "d"):
        answers.keep(name, ok)
    assert answers.replay("b", 2) is None and answers.replay("d", 2) == ok, "bounded"


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


def _put(ddb: Any, item: dict[str, Any], invocation: str, attempt: int) -> None:
    def as_attempt(request: Any, **_: Any) -> None:
        request.headers["amz-sdk-invocation-id"] = invocation
        request.headers["amz-sdk-request"] = f"attempt={attempt}; max=5"

    ddb.meta.events.register("before-send.dynamodb.PutItem", as_attempt)
    try:
        ddb.put_item(
            TableName="locks", Item=item, ConditionExpression="attribute_not_exists(LockID)"
        )
    finally:
        ddb.meta.events.unregister("before-send.dynamodb.PutItem", as_attempt)


def _refused(ddb: Any, item: dict[str, Any], invocation: str, attempt: int) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        _put(ddb, item, invocation, attempt)
    return str(refused.value.response["Error"]["Code"])


def test_a_retry_of_a_landed_lock_gets_its_answer_and_other_calls_meet_the_condition(
    ddb: Any,
) -> None:
    first = str(uuid.uuid4())
    _put(ddb, LOCK, first, attempt=1)
    _put(ddb, LOCK, first, attempt=2)  # the SDK's retry of the lock it took: the same answer
    other = {**LOCK, "Info": {"S": '{"ID":"b2"}'}}
    second = str(uuid.uuid4())
    assert _refused(ddb, other, second, 1) == "ConditionalCheckFailedException"
    # a retry of an invocation answered with an error runs anew (and fails again)
    assert _refused(ddb, other, second, 2) == "ConditionalCheckFailedException"
    stored = ddb.get_item(TableName="locks", Key={"LockID": LOCK["LockID"]})["Item"]
    assert stored == LOCK
