"""What the applied stack deployed that the sandbox must run, read from Terraform's state.

`stack_from_state(state)` takes the state as `terraform state pull` prints it (format 4, read
from the backend without starting a provider: `show -json` costs about 2 s more per `up` for the
same attributes) and returns a `Stack`: every `aws_lambda_function` with its handler,
runtime, environment, role and package; function URLs; EventBridge rules with their targets;
SQS event-source mappings. The supervisor keeps it as JSON (`Stack.to_json`) in the sandbox's
home so that it can reload what each `up` applied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str
    runtime: str
    role_arn: str
    package: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout: int = 3
    memory: int = 128
    code_hash: str = ""

    @property
    def python_version(self) -> str:
        """`python3.12` -> `3.12`; other runtimes are refused with the runtime named."""
        if not self.runtime.startswith("python3."):
            raise ValueError(
                f"function {self.name}: runtime {self.runtime!r} is not a Python runtime; the "
                "sandbox runs python3.x functions only"
            )
        return self.runtime.removeprefix("python")


@dataclass(frozen=True)
class TargetSpec:
    arn: str
    target_id: str = ""
    input: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    name: str
    arn: str
    event_pattern: dict[str, Any] | None = None
    schedule: str | None = None
    enabled: bool = True
    targets: tuple[TargetSpec, ...] = ()


@dataclass(frozen=True)
class MappingSpec:
    """An event-source mapping (SQS queue -> function)."""

    source_arn: str
    function: str
    batch_size: int = 10
    enabled: bool = True


@dataclass(frozen=True)
class PermissionSpec:
    """A statement of a function's resource policy (aws_lambda_permission)."""

    function: str
    action: str
    principal: str
    source_arn: str | None = None


@dataclass(frozen=True)
class Stack:
    functions: tuple[FunctionSpec, ...] = ()
    urls: Mapping[str, str] = field(default_factory=dict)  # function name -> URL
    rules: tuple[RuleSpec, ...] = ()
    mappings: tuple[MappingSpec, ...] = ()
    queues: Mapping[str, str] = field(default_factory=dict)  # queue ARN -> URL
    permissions: tuple[PermissionSpec, ...] = ()

    def allows(self, function: str, action: str, principal: str, source_arn: str = "") -> bool:
        """Whether the function's resource policy lets `principal` do `action` (from
        `source_arn`), as Lambda checks before an invocation by a service or a URL."""
        for p in self.permissions:
            if p.function.rsplit(":", 1)[-1] != function and p.function != function:
                continue
            if p.action not in (action, "lambda:*") or p.principal not in (principal, "*"):
                continue
            if p.source_arn and p.source_arn != source_arn:
                continue
            return True
        return False

    def function(self, name_or_arn: str) -> FunctionSpec | None:
        for fn in self.functions:
            if name_or_arn in (fn.name, fn.arn) or name_or_arn.startswith(fn.arn + ":"):
                return fn
        return None

    def url_function(self) -> FunctionSpec | None:
        """The function behind the (first) function URL: the webhook."""
        for name in sorted(self.urls):
            fn = self.function(name)
            if fn is not None:
                return fn
        return None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Stack:
        raw = json.loads(text)
        return cls(
            functions=tuple(FunctionSpec(**f) for f in raw.get("functions", [])),
            urls=dict(raw.get("urls", {})),
            rules=tuple(
                RuleSpec(
                    **{k: v for k, v in r.items() if k != "targets"},
                    targets=tuple(TargetSpec(**t) for t in r.get("targets", [])),
                )
                for r in raw.get("rules", [])
            ),
            mappings=tuple(MappingSpec(**m) for m in raw.get("mappings", [])),
            queues=dict(raw.get("queues", {})),
            permissions=tuple(PermissionSpec(**p) for p in raw.get("permissions", [])),
        )


def _resources(state: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Each current object of the state as {mode, type, values} (deposed objects are going)."""
    for res in state.get("resources") or []:
        for instance in res.get("instances") or []:
            if instance.get("deposed"):
                continue
            yield {
                "mode": res.get("mode", "managed"),
                "type": res.get("type"),
                "values": instance.get("attributes") or {},
            }


def _env(values: Mapping[str, Any]) -> dict[str, str]:
    blocks = values.get("environment") or []
    if not blocks:
        return {}
    variables = blocks[0].get("variables") or {}
    return {str(k): str(v) for k, v in variables.items()}


def stack_from_state(state: Mapping[str, Any]) -> Stack:
    """The runnable parts of the state of `terraform state pull` (format 4)."""
    if state and state.get("version") != 4:
        raise ValueError(f"terraform state format {state.get('version')!r}: expected 4")
    functions: list[FunctionSpec] = []
    urls: dict[str, str] = {}
    rules: dict[str, dict[str, Any]] = {}
    targets: dict[str, list[TargetSpec]] = {}
    mappings: list[MappingSpec] = []
    queues: dict[str, str] = {}
    permissions: list[PermissionSpec] = []
    for res in _resources(state):
        if res.get("mode", "managed") != "managed":
            continue
        kind, v = res.get("type"), res.get("values") or {}
        if kind == "aws_lambda_function":
            functions.append(
                FunctionSpec(
                    name=str(v["function_name"]),
                    arn=str(v["arn"]),
                    handler=str(v["handler"]),
                    runtime=str(v["runtime"]),
                    role_arn=str(v["role"]),
                    package=str(v.get("filename") or ""),
                    environment=_env(v),
                    timeout=int(v.get("timeout") or 3),
                    memory=int(v.get("memory_size") or 128),
                    code_hash=str(v.get("source_code_hash") or ""),
                )
            )
        elif kind == "aws_lambda_function_url":
            urls[str(v["function_name"]).rsplit(":", 1)[-1]] = str(v.get("function_url") or "")
        elif kind == "aws_cloudwatch_event_rule":
            pattern = v.get("event_pattern")
            rules[str(v["name"])] = {
                "name": str(v["name"]),
                "arn": str(v.get("arn") or ""),
                "event_pattern": json.loads(pattern) if pattern else None,
                "schedule": v.get("schedule_expression") or None,
                "enabled": str(v.get("state") or "ENABLED") == "ENABLED"
                and v.get("is_enabled", True) is not False,
            }
        elif kind == "aws_cloudwatch_event_target":
            targets.setdefault(str(v["rule"]), []).append(
                TargetSpec(str(v["arn"]), str(v.get("target_id") or ""), v.get("input") or None)
            )
        elif kind == "aws_lambda_event_source_mapping":
            mappings.append(
                MappingSpec(
                    source_arn=str(v.get("event_source_arn") or ""),
                    function=str(v.get("function_name") or v.get("function_arn") or ""),
                    batch_size=int(v.get("batch_size") or 10),
                    enabled=bool(v.get("enabled", True)),
                )
            )
        elif kind == "aws_lambda_permission":
            permissions.append(
                PermissionSpec(
                    function=str(v.get("function_name") or ""),
                    action=str(v.get("action") or ""),
                    principal=str(v.get("principal") or ""),
                    source_arn=v.get("source_arn") or None,
                )
            )
        elif kind == "aws_sqs_queue":
            queues[str(v["arn"])] = str(v.get("url") or v.get("id") or "")
    return Stack(
        functions=tuple(sorted(functions, key=lambda f: f.name)),
        urls=urls,
        rules=tuple(
            RuleSpec(**r, targets=tuple(targets.get(name, ()))) for name, r in sorted(rules.items())
        ),
        mappings=tuple(mappings),
        queues=queues,
        permissions=tuple(permissions),
    )
