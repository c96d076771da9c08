"""Exactly-once issuance per instance: a conditional write in the control plane's table.

Duplicate or concurrent events for one instance race on a conditional put; only the winner
mints a registration. A failed mint releases its claim so a later event can retry. A claim
lasts `CLAIM_TTL_SECONDS` (five minutes: longer than a registrar invocation may run), not
days: a registrar stopped between minting and storing (a Lambda timeout) leaves a claim that
expires on the scale of the operation, and the next pass registers the host again (the
GitHub client replaces an unused runner of the same name). An expired claim counts as absent
even before DynamoDB's TTL sweep removes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

CLAIM_TTL_SECONDS = 300


class Claims(Protocol):
    """Who has been issued a registration."""

    def claim(self, instance_id: str, runner_name: str) -> bool: ...

    def release(self, instance_id: str) -> None: ...

    def claimed(self, instance_id: str) -> bool: ...


@dataclass
class MemoryClaims:
    """In-process claims (local runs and tests)."""

    clock: Callable[[], float] = time.time
    ttl: float = CLAIM_TTL_SECONDS
    _ids: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, instance_id: str, runner_name: str) -> bool:
        with self._lock:
            if self._live(instance_id):
                return False
            self._ids[instance_id] = (runner_name, self.clock() + self.ttl)
            return True

    def _live(self, instance_id: str) -> bool:
        held = self._ids.get(instance_id)
        return held is not None and held[1] > self.clock()

    def release(self, instance_id: str) -> None:
        with self._lock:
            self._ids.pop(instance_id, None)

    def claimed(self, instance_id: str) -> bool:
        with self._lock:
            return self._live(instance_id)


@dataclass
class DynamoClaims:
    """Claims in DynamoDB (hash key `pk`, TTL attribute `expires_at`)."""

    dynamodb: Any
    table: str
    clock: Callable[[], float] = time.time

    @staticmethod
    def _pk(instance_id: str) -> str:
        return f"registration#{instance_id}"

    def claim(self, instance_id: str, runner_name: str) -> bool:
        now = int(self.clock())
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": self._pk(instance_id)},
                    "runner_name": {"S": runner_name},
                    "issued_at": {"N": str(now)},
                    "expires_at": {"N": str(now + CLAIM_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, instance_id: str) -> None:
        self.dynamodb.delete_item(TableName=self.table, Key={"pk": {"S": self._pk(instance_id)}})

    def claimed(self, instance_id: str) -> bool:
        resp = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": self._pk(instance_id)}}, ConsistentRead=True
        )
        item = resp.get("Item")
        if not item:
            return False
        expires = item.get("expires_at", {}).get("N")
        return expires is None or float(expires) > self.clock()
