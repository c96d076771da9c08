"""moto's costs made per item, as AWS's are: each patch gives the same answers as moto's own
code (tests/unit/strictaws/test_motocosts.py); only its cost no longer grows with everything
else moto holds. The sandbox's emulator process runs with them (`apply_in_process`: a
sandbox accumulates terminated instances, their tags and job items, and its watch and
functions list them all the time), and so do the benchmarks that load moto with thousands of
items, so that they time the control plane and not moto's bookkeeping (`--moto-as-is` on
them turns these off to show the difference).

- `item_level_transactions()`: moto's TransactWriteItems deep-copies every table the
  transaction touches (once per item) so that it can roll back: one transaction costs
  O(table size). Here it snapshots only the items the transaction touches and restores
  those when it is cancelled: the same all-or-nothing outcome and cancellation reasons.
  Tables with a sort key keep moto's own code.
- `per_resource_tags()`: moto's EC2 `get_tags()` (called for every instance by
  DescribeInstances, for each tag filter and again to serialise its tags) scans the tags of
  every resource in the region through a regex: DescribeInstances over n instances costs
  O(n^2). Here it reads the resource's own tags, in the same shape.
- `list_modules_once()`: moto finds a request's backend by listing its package folder (a
  listdir and an isdir per entry) on every request, 5% of the sandbox emulator's CPU in the
  suite; the folder does not change while the process runs, so it is listed once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock


@contextmanager
def item_level_transactions() -> Iterator[None]:
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items
    real_copy = models.copy  # type: ignore[attr-defined]  # moto's module imports copy; no re-export

    class _TablesShared:
        @staticmethod
        def deepcopy(x: Any, memo: Any = None) -> Any:
            return x if isinstance(x, Table) else real_copy.deepcopy(x, memo)

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for item in transact_items:
            _, op = next(iter(item.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None or table.range_key_attr is not None:
                return original(self, transact_items)
            key = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in key:
                return original(self, transact_items)
            hv = DynamoType(key[table.hash_key_attr])
            present = hv in table.items
            saved.append((table, hv, present, real_copy.deepcopy(table.items.get(hv))))
        models.copy = _TablesShared  # type: ignore[attr-defined,assignment]  # patched here
        try:
            return original(self, transact_items)
        except Exception:
            for table, hv, present, old in reversed(saved):
                if present:
                    table.items[hv] = old
                else:
                    table.items.pop(hv, None)
            raise
        finally:
            models.copy = real_copy  # type: ignore[attr-defined]

    with mock.patch.object(models.DynamoDBBackend, "transact_write_items", transact):
        yield


@contextmanager
def per_resource_tags() -> Iterator[None]:
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    def get_tags(self: Any) -> list[dict[str, str]]:
        rid = getattr(self, "id", None)
        if not rid:
            return []
        tags = self.ec2_backend.tags.get(rid) or {}
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), "")
        return [
            {"resource_id": rid, "key": k, "value": v, "resource_type": kind}
            for k, v in tags.items()
        ]

    with mock.patch.object(TaggedEC2Resource, "get_tags", get_tags):
        yield


@contextmanager
def per_item_costs(enabled: bool = True) -> Iterator[None]:
    """Both patches (nothing when `enabled` is False)."""
    with ExitStack() as stack:
        if enabled:
            stack.enter_context(item_level_transactions())
            stack.enter_context(per_resource_tags())
        yield


def list_modules_once() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]


_process_stack: ExitStack | None = None


def apply_in_process() -> None:
    """All three, for the rest of this process (idempotent): the emulator's start-up."""
    global _process_stack
    if _process_stack is not None:
        return
    _process_stack = ExitStack()
    _process_stack.enter_context(per_item_costs())
    list_modules_once()
