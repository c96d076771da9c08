"""The refusal rules as pure decisions, over a fake emulator state."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from runnerfleet.strictaws import rules
from runnerfleet.strictaws.rules import Call, GroupSize, check


@dataclass
class FakeState:
    groups: dict[str, GroupSize] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)
    tiers: dict[str, str] = field(default_factory=dict)
    grants: dict[str, set[str]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=dict)
    limit: int = 10
    actions: set[tuple[str, str, str]] = field(default_factory=set)

    def group(self, name: str) -> GroupSize | None:
        return self.groups.get(name)

    def group_of_instance(self, instance_id: str) -> GroupSize | None:
        name = self.instances.get(instance_id)
        return None if name is None else self.groups[name]

    def parameter_tier(self, name: str) -> str | None:
        return self.tiers.get(name)

    def role_allows(self, role_arn: str, action: str) -> bool:
        return action in self.grants.get(role_arn, set())

    def role_trusts(self, role_arn: str, service: str) -> bool:
        return role_arn in self.grants  # every role of the fake trusts lambda

    def function_role(self, function_name: str) -> str | None:
        return self.roles.get(function_name)

    def reserved_concurrency_of_others(self, function_name: str) -> int:
        return sum(n for fn, n in self.reserved.items() if fn != function_name)

    def account_concurrency(self) -> int:
        return self.limit

    def lifecycle_action_active(
        self, group: str, hook: str, token: str | None, instance_id: str | None
    ) -> bool:
        return (group, hook, token or instance_id or "") in self.actions


def test_ssm_tiers() -> None:
    state = FakeState(tiers={"/adv": "Advanced"})

    def put(**params: str) -> rules.Refusal | None:
        return check(Call("ssm", "PutParameter", {"Name": "/p", **params}), state)

    assert put(Value="x" * 4096) is None
    refusal = put(Value="x" * 4097)
    assert refusal is not None and refusal.code == "ValidationException"
    assert put(Value="x" * 4097, Tier="Standard") is not None
    assert put(Value="x" * 8192, Tier="Advanced") is None
    assert put(Value="x" * 8192, Tier="Intelligent-Tiering") is None
    assert put(Value="x" * 8193, Tier="Advanced") is not None
    overwrite = Call("ssm", "PutParameter", {"Name": "/adv", "Value": "x" * 5000})
    assert check(overwrite, state) is None  # keeps its Advanced tier


def test_terminate_and_desired_capacity_bounds() -> None:
    state = FakeState(groups={"g": GroupSize(1, 3, 1)}, instances={"i-1": "g"})
    term = Call(
        "autoscaling",
        "TerminateInstanceInAutoScalingGroup",
        {"InstanceId": "i-1", "ShouldDecrementDesiredCapacity": "true"},
    )
    refusal = check(term, state)
    assert refusal is not None and "minSize (1)" in refusal.message
    keep = Call(
        "autoscaling",
        "TerminateInstanceInAutoScalingGroup",
        {"InstanceId": "i-1", "ShouldDecrementDesiredCapacity": "false"},
    )
    assert check(keep, state) is None
    state.groups["g"] = GroupSize(1, 3, 2)
    assert check(term, state) is None
    for desired, ok in ((0, False), (1, True), (3, True), (4, False)):
        call = Call(
            "autoscaling",
            "SetDesiredCapacity",
            {"AutoScalingGroupName": "g", "DesiredCapacity": str(desired)},
        )
        assert (check(call, state) is None) is ok, desired


def test_lifecycle_action_lookup() -> None:
    state = FakeState(actions={("g", "h", "tok")})
    base = {"AutoScalingGroupName": "g", "LifecycleHookName": "h"}
    ok = Call("autoscaling", "CompleteLifecycleAction", {**base, "LifecycleActionToken": "tok"})
    assert check(ok, state) is None
    bad = Call("autoscaling", "CompleteLifecycleAction", {**base, "LifecycleActionToken": "nope"})
    assert check(bad, state) == rules.Refusal(
        "ValidationError", "No active Lifecycle Action found with token nope"
    )


@pytest.mark.parametrize(
    ("grants", "missing"),
    [
        (set(), "PutTraceSegments"),
        ({"xray:PutTraceSegments"}, "PutTelemetryRecords"),
        (set(rules.XRAY_ACTIONS), None),
    ],
)
def test_tracing_needs_both_xray_actions(grants: set[str], missing: str | None) -> None:
    state = FakeState(grants={"arn:role": grants}, roles={"fn": "arn:role"})
    call = Call(
        "lambda",
        "UpdateFunctionConfiguration",
        {"FunctionName": "fn", "TracingConfig": {"Mode": "Active"}},
    )
    refusal = check(call, state)
    if missing is None:
        assert refusal is None
    else:
        assert refusal is not None and f"call {missing} on XRAY" in refusal.message
    passthrough = Call(
        "lambda", "CreateFunction", {"Role": "arn:role", "TracingConfig": {"Mode": "PassThrough"}}
    )
    assert check(passthrough, FakeState(grants={"arn:role": set()})) is None


@pytest.mark.parametrize(
    ("limit", "others", "wanted", "floor"),
    [
        (10, 0, 1, 10),
        (1000, 0, 900, None),
        (1000, 0, 901, 100),
        (1000, 800, 101, 100),
        (50, 0, 1, 50),
    ],
)
def test_unreserved_concurrency_floor(
    limit: int, others: int, wanted: int, floor: int | None
) -> None:
    state = FakeState(limit=limit, reserved={"other": others})
    call = Call(
        "lambda",
        "PutFunctionConcurrency",
        {"FunctionName": "fn", "ReservedConcurrentExecutions": wanted},
    )
    refusal = check(call, state)
    if floor is None:
        assert refusal is None
    else:
        assert refusal is not None and refusal.message.endswith(f"minimum value of [{floor}].")
