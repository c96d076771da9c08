"""Which AWS API calls the Lambda package's code can make, read from the source (no run).

The modules are those the package carries: the import closure of the entry-point module
(runnerfleet.controlplane.packaging.import_closure, the same list the zip is built from). In
them, every call `<receiver>.<name>(...)` whose name is a boto3 client method of a service
the code makes clients for, and every `<receiver>.get_paginator("<name>")`, is an API call.
Its service comes from the receiver's name (`self.ec2`, `asg`, `self.fleet.autoscaling`,
`client("ssm")`, see RECEIVERS) or, when the receiver is a generic client name
(`self._client`, GENERIC), from the method name when exactly one candidate service has it; a
call that stays ambiguous is reported, never dropped. Any other receiver (`self.jobs.scan()`)
is one of the code's own adapters, not a boto3 client: the adapter's body holds the real
call. The candidate services are those named in `...client("<service>")` calls.

`iam_actions` maps an API operation to the IAM actions that authorize it: the same name,
except DynamoDB's transactions, which AWS authorizes per item (PutItem, UpdateItem,
DeleteItem, ConditionCheckItem; there is no dynamodb:TransactWriteItems action), and SSM
PutParameter, which the package always calls with Tags (ssm:AddTagsToResource too).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import cast

import botocore.session
from botocore import xform_name

import runnerfleet
from runnerfleet.controlplane.packaging import import_closure

# Receiver names (lower case, leading underscores dropped) -> boto3 service name.
RECEIVERS = {
    "ec2": "ec2",
    "autoscaling": "autoscaling",
    "asg": "autoscaling",
    "ssm": "ssm",
    "dynamodb": "dynamodb",
    "cloudwatch": "cloudwatch",
    "secrets": "secretsmanager",
    "secretsmanager": "secretsmanager",
}
GENERIC = frozenset({"client", "boto", "boto_client", "aws"})
_TRANSACT_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
IAM_PREFIX = {"cloudwatch": "cloudwatch"}  # boto3 service name -> IAM prefix when different
_NOT_CALLS = frozenset({"get_paginator", "get_waiter", "can_paginate", "close"})


@dataclass(frozen=True)
class Call:
    service: str  # boto3 service name
    operation: str  # API operation name, e.g. DescribeInstances
    where: str  # module:line


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method -> OperationName for one service."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


def _receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id.lstrip("_").lower()
    if isinstance(node, ast.Attribute):
        return node.attr.lstrip("_").lower()
    if isinstance(node, ast.Call) and node.args:
        arg = node.args[0]
        func = node.func
        fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if fname in ("client", "clients") and isinstance(arg, ast.Constant):
            return str(arg.value).lower()
    return None


def _client_services(trees: dict[str, ast.Module]) -> set[str]:
    """Services named as the first argument of a `client(...)`/`clients(...)` call."""
    known = set(botocore.session.get_session().get_available_services())
    found: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if (
                fname in ("client", "clients")
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and arg.value in known
            ):
                found.add(arg.value)
    return found


def _trees(root: Path) -> dict[str, ast.Module]:
    return {
        module: ast.parse(path.read_text(encoding="utf-8"), str(path))
        for module, path in sorted(import_closure(root).items())
    }


def static_calls(root: Path | None = None) -> tuple[list[Call], list[str]]:
    """(calls, ambiguities) in the package's modules; see the module docstring."""
    root = root or Path(runnerfleet.__file__).resolve().parent
    trees = _trees(root)
    services = _client_services(trees)
    calls: list[Call] = []
    ambiguous: list[str] = []
    for module, tree in trees.items():
        for node, method in _method_calls(tree):
            owners = [s for s in services if method in _operations(s)]
            if not owners:
                continue
            where = f"{module}:{node.lineno}"
            # _method_calls yields attribute calls only (`<receiver>.<method>(...)`)
            receiver = _receiver_name(cast(ast.Attribute, node.func).value)
            service = RECEIVERS.get(receiver or "", receiver)
            if service not in owners and receiver not in GENERIC:
                continue  # an adapter of the code's own (its body holds the boto3 call)
            if service not in owners:
                if len(owners) != 1:
                    ambiguous.append(f"{where}: {method} could be {sorted(owners)}")
                    continue
                service = owners[0]
            calls.append(Call(str(service), _operations(str(service))[method], where))
    return calls, ambiguous


def _method_calls(tree: ast.Module) -> Iterator[tuple[ast.Call, str]]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
            yield node, str(node.args[0].value)
        elif name not in _NOT_CALLS:
            yield node, name


def iam_actions(service: str, operation: str, items: list[str] | None = None) -> set[str]:
    """IAM actions authorizing one call; `items` are a transaction's item kinds (Put, ...),
    None when unknown (static analysis: every kind a transaction may hold)."""
    prefix = IAM_PREFIX.get(service, service)
    if service == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        kinds = (
            items
            if items is not None
            else (
                ["Get"]
                if operation == "TransactGetItems"
                else ["Put", "Update", "Delete", "ConditionCheck"]
            )
        )
        return {f"dynamodb:{_TRANSACT_ITEMS[k]}" for k in kinds}
    if service == "ssm" and operation == "PutParameter":  # the code always tags (ssm_store)
        return {"ssm:PutParameter", "ssm:AddTagsToResource"}
    return {f"{prefix}:{operation}"}
