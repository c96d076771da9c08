"""A retried DynamoDB PutItem whose first attempt landed: answered as that attempt was.

Seen in CI, in the backend tests and in sandbox `up`/`down`: Terraform's state-lock PutItem
(condition `attribute_not_exists(LockID)`) was answered 200, then the same PutItem came again
and was refused with ConditionalCheckFailed on the item the first attempt had written, so
`terraform apply` failed to acquire a lock that nobody else held. The AWS SDK sends a request
again only when it did not get (or could not read) the answer to the last attempt; its
`amz-sdk-request: attempt=N` header counts them. AWS answers every request, so there such a
retry is all but unheard of; the emulator on a loaded machine lost that answer (the cause was
not found: 60 applies under load did not reproduce it).

So the layer answers a retry (attempt >= 2) of a conditional PutItem whose item is stored
exactly as sent (every attribute equal, the lock's random ID included) as the first attempt
was answered (`{}`), and logs it. Anything else goes to moto and its condition: another
client's lock, with its own ID, is still refused.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

log = logging.getLogger("runnerfleet.strictaws")

PUT_ITEM = "DynamoDB_20120810.PutItem"
_ATTEMPT = re.compile(r"attempt=(\d+)")


def attempt(header: str | None) -> int:
    """The attempt number of an `amz-sdk-request` header (`attempt=2; max=5`); 1 without."""
    m = _ATTEMPT.search(header or "")
    return int(m.group(1)) if m else 1


def is_landed_retry(request: dict[str, Any], stored: dict[str, Any] | None, tries: int) -> bool:
    """A retry of a conditional PutItem whose item is already stored exactly as sent."""
    return (
        tries >= 2
        and bool(request.get("ConditionExpression") or request.get("Expected"))
        and stored is not None
        and stored == request.get("Item")
    )


def stored_item(account: str, region: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """The item moto holds under the request's key (None: no table, no key, no item)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    item = request.get("Item")
    if not isinstance(item, dict):
        return None
    try:
        table = dynamodb_backends[account][region].get_table(str(request.get("TableName")))
        hash_value = item[table.hash_key_attr]
        range_value = item[table.range_key_attr] if table.range_key_attr else None
        found = table.get_item(
            DynamoType(hash_value), DynamoType(range_value) if range_value else None
        )
    except Exception:  # no such table, a key missing from the item: moto answers it
        return None
    if found is None:
        return None
    attributes: dict[str, Any] = found.to_json()["Attributes"]
    return attributes


def retry_attempt(environ: dict[str, Any]) -> int:
    """The attempt number of a PutItem the SDK sends again (2 or more); 0 for anything else."""
    if environ.get("HTTP_X_AMZ_TARGET") != PUT_ITEM:
        return 0
    tries = attempt(environ.get("HTTP_AMZ_SDK_REQUEST"))
    return tries if tries >= 2 else 0


def answer_landed_retry(body: bytes, tries: int, account: str, region: str) -> bool:
    """True when this PutItem retry (`retry_attempt`) landed before (see the module doc)."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return False
    if not isinstance(request, dict):
        return False
    if not is_landed_retry(request, stored_item(account, region, request), tries):
        return False
    log.warning(
        "PutItem attempt %d on %s: the item is stored exactly as sent (the SDK did not get "
        "the first attempt's answer); answered as that attempt was",
        tries,
        request.get("TableName"),
    )
    return True
