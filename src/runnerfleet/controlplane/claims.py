"""Exactly-once issuance per instance: a conditional write in the control plane's table.

Duplicate or concurrent events for one instance race on `attribute_not_exists(pk)`; only the
winner mints a registration. A failed mint releases its claim so a later event can retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

CLAIM_TTL_SECONDS = 7 * 24 * 3600


class Claims(Protocol):
    """Who has been issued a registration."""

    def claim(self, instance_id: str, runner_name: str) -> bool: ...

    def release(self, instance_id: str) -> None: ...

    def claimed(self, instance_id: str) -> bool: ...


@dataclass
class MemoryClaims:
    """In-process claims (local runs and tests)."""

    _ids: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, instance_id: str, runner_name: str) -> bool:
        with self._lock:
            if instance_id in self._ids:
                return False
            self._ids[instance_id] = runner_name
            return True

    def release(self, instance_id: str) -> None:
        with self._lock:
            self._ids.pop(instance_id, None)

    def claimed(self, instance_id: str) -> bool:
        with self._lock:
            return instance_id in self._ids


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
                ConditionExpression="attribute_not_exists(pk)",
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
        return "Item" in resp
