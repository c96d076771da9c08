"""The refusal rules: pure decisions from one AWS call and what the emulator holds.

Each rule looks at one `Call` (service, operation, parameters) and, through the `AwsState`
Protocol, at the emulator's state, and returns a `Refusal` (AWS's error code and message) or
None. No I/O here; `runnerfleet.strictaws.motostate` reads moto's backends for `AwsState` and
`runnerfleet.strictaws.wire` parses requests and renders refusals. The table of rules, with the
sources of the messages, is the docstring of the `runnerfleet.strictaws` package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

STANDARD_TIER_MAX = 4096
ADVANCED_TIER_MAX = 8192
SSM_TIERS_DOC = "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
DEFAULT_ACCOUNT_CONCURRENCY = 10  # what a new AWS account gets
UNRESERVED_FLOOR = 100  # AWS keeps min(100, account limit) unreserved


@dataclass(frozen=True)
class Call:
    """One parsed AWS API call: `service` is the signing name (ssm, autoscaling, lambda)."""

    service: str
    operation: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    """What AWS answers instead: HTTP status, error code and message."""

    code: str
    message: str
    status: int = 400


@dataclass(frozen=True)
class GroupSize:
    min_size: int
    max_size: int
    desired: int


class AwsState(Protocol):
    """What the rules read from the emulator."""

    def group(self, name: str) -> GroupSize | None: ...

    def group_of_instance(self, instance_id: str) -> GroupSize | None: ...

    def parameter_tier(self, name: str) -> str | None: ...

    def role_allows(self, role_arn: str, action: str) -> bool: ...

    def role_trusts(self, role_arn: str, service: str) -> bool: ...

    def function_role(self, function_name: str) -> str | None: ...

    def reserved_concurrency_of_others(self, function_name: str) -> int: ...

    def account_concurrency(self) -> int: ...

    def lifecycle_action_active(
        self, group: str, hook: str, token: str | None, instance_id: str | None
    ) -> bool: ...


Rule = Callable[[Call, AwsState], Refusal | None]


def _validation_error(message: str) -> Refusal:
    return Refusal("ValidationError", message)


# ---- SSM ---------------------------------------------------------------------------------------
def ssm_parameter_size(call: Call, state: AwsState) -> Refusal | None:
    """PutParameter: Standard tier holds 4,096 characters; Advanced, Intelligent-Tiering 8 KB."""
    value = call.params.get("Value")
    if not isinstance(value, str) or len(value) <= STANDARD_TIER_MAX:
        return None
    tier = call.params.get("Tier")
    if tier is None:  # an overwrite keeps the parameter's tier; a new one gets the default
        tier = state.parameter_tier(str(call.params.get("Name", ""))) or "Standard"
    if tier == "Standard":
        return Refusal(
            "ValidationException",
            "Standard tier parameters support a maximum parameter value of 4096 characters. "
            "To create a larger parameter value, upgrade the parameter to use the "
            f"advanced-parameter tier. For more information, see {SSM_TIERS_DOC}",
        )
    if len(value) > ADVANCED_TIER_MAX:
        return Refusal(
            "ValidationException",
            "Advanced tier parameters support a maximum parameter value of 8192 characters. "
            f"For more information, see {SSM_TIERS_DOC}",
        )
    return None


# ---- Auto Scaling --------------------------------------------------------------------------------
def _as_bool(value: Any) -> bool:
    return str(value).lower() == "true"


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def terminate_at_min_size(call: Call, state: AwsState) -> Refusal | None:
    """TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity at the minimum."""
    if not _as_bool(call.params.get("ShouldDecrementDesiredCapacity")):
        return None
    size = state.group_of_instance(str(call.params.get("InstanceId", "")))
    if size is None or size.desired > size.min_size:
        return None
    return _validation_error(
        f"Currently, desiredSize equals minSize ({size.min_size}). Terminating instance without "
        "replacement will violate group's min size constraint. Either set "
        "shouldDecrementDesiredCapacity flag to false or lower group's min size."
    )


def desired_capacity_in_range(call: Call, state: AwsState) -> Refusal | None:
    """SetDesiredCapacity must stay within the group's [MinSize, MaxSize]."""
    desired = _as_int(call.params.get("DesiredCapacity"))
    size = state.group(str(call.params.get("AutoScalingGroupName", "")))
    if desired is None or size is None:
        return None
    if desired > size.max_size:
        return _validation_error(
            f"New SetDesiredCapacity value {desired} is above max value {size.max_size} "
            "for the AutoScalingGroup."
        )
    if desired < size.min_size:
        return _validation_error(
            f"New SetDesiredCapacity value {desired} is below min value {size.min_size} "
            "for the AutoScalingGroup."
        )
    return None


def lifecycle_action_key(params: Mapping[str, Any]) -> tuple[str, str, str | None, str | None]:
    """(group, hook, token, instance id) named by a CompleteLifecycleAction or
    RecordLifecycleActionHeartbeat request; an empty token or instance id is None."""
    token, instance_id = params.get("LifecycleActionToken"), params.get("InstanceId")
    return (
        str(params.get("AutoScalingGroupName", "")),
        str(params.get("LifecycleHookName", "")),
        str(token) if token else None,
        str(instance_id) if instance_id else None,
    )


def lifecycle_action_known(call: Call, state: AwsState) -> Refusal | None:
    """CompleteLifecycleAction / RecordLifecycleActionHeartbeat need an active action."""
    key = lifecycle_action_key(call.params)
    if state.lifecycle_action_active(*key):
        return None
    token, instance_id = key[2], key[3]
    if token:
        return _validation_error(f"No active Lifecycle Action found with token {token}")
    return _validation_error(f"No active Lifecycle Action found with instance ID {instance_id}")


# ---- Lambda --------------------------------------------------------------------------------------
def role_assumable_by_lambda(call: Call, state: AwsState) -> Refusal | None:
    """The execution role must exist and trust lambda.amazonaws.com."""
    role = call.params.get("Role")
    if not role or state.role_trusts(str(role), "lambda.amazonaws.com"):
        return None
    return Refusal(
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    )


def tracing_needs_xray(call: Call, state: AwsState) -> Refusal | None:
    """Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords on the role."""
    tracing = call.params.get("TracingConfig") or {}
    if not isinstance(tracing, Mapping) or tracing.get("Mode") != "Active":
        return None
    role = call.params.get("Role") or state.function_role(str(call.params.get("FunctionName")))
    if not role:
        return None
    for action in XRAY_ACTIONS:
        if not state.role_allows(str(role), action):
            name = action.split(":", 1)[1]
            return Refusal(
                "InvalidParameterValueException",
                f"The provided execution role does not have permissions to call {name} on XRAY",
            )
    return None


def unreserved_concurrency_floor(call: Call, state: AwsState) -> Refusal | None:
    """PutFunctionConcurrency may not leave the account under its unreserved minimum."""
    wanted = _as_int(call.params.get("ReservedConcurrentExecutions"))
    if wanted is None:
        return None
    limit = state.account_concurrency()
    floor = min(UNRESERVED_FLOOR, limit)
    others = state.reserved_concurrency_of_others(str(call.params.get("FunctionName", "")))
    if limit - others - wanted >= floor:
        return None
    return Refusal(
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's "
        f"UnreservedConcurrentExecution below its minimum value of [{floor}].",
    )


RULES: dict[tuple[str, str], tuple[Rule, ...]] = {
    ("ssm", "PutParameter"): (ssm_parameter_size,),
    ("autoscaling", "TerminateInstanceInAutoScalingGroup"): (terminate_at_min_size,),
    ("autoscaling", "SetDesiredCapacity"): (desired_capacity_in_range,),
    ("autoscaling", "CompleteLifecycleAction"): (lifecycle_action_known,),
    ("autoscaling", "RecordLifecycleActionHeartbeat"): (lifecycle_action_known,),
    ("lambda", "CreateFunction"): (role_assumable_by_lambda, tracing_needs_xray),
    ("lambda", "UpdateFunctionConfiguration"): (role_assumable_by_lambda, tracing_needs_xray),
    ("lambda", "PutFunctionConcurrency"): (unreserved_concurrency_floor,),
}


def watched(service: str, operation: str) -> bool:
    return (service, operation) in RULES


def check(call: Call, state: AwsState) -> Refusal | None:
    """The first refusal of the rules for `call`, or None when AWS would accept it."""
    for rule in RULES.get((call.service, call.operation), ()):
        refusal = rule(call, state)
        if refusal is not None:
            return refusal
    return None
