"""moto's in-process state, read and (for the sandbox's own needs) written.

Runs inside the moto server process (`python -m runnerfleet.strictaws`), so it reads moto's
backends directly instead of calling moto over HTTP. It provides:
- `MotoState`: the rules' `AwsState` (group sizes, parameter tiers, role policies, Lambda
  concurrency, active lifecycle actions);
- `seed_admin`: the sandbox's admin IAM user whose access key is the sandbox's well-known
  dummy key, so Terraform and the CLI stay allowed everything once IAM is enforced;
- `assume_as_service`: `sts:AssumeRole` as a service principal (lambda.amazonaws.com,
  ec2.amazonaws.com) after checking the role's trust policy, as Lambda and EC2 do for real;
- `LifecycleActions`: the active lifecycle actions (moto has none; the sandbox's event
  delivery registers them) that CompleteLifecycleAction needs, and what they do to the
  instance: Pending:Wait while a launch action is active, ABANDON terminates, heartbeat
  timeout applies the hook's default result.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.awslambda.models import lambda_backends
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.models import iam_backends
from moto.ssm.models import ssm_backends
from moto.sts.models import sts_backends

from runnerfleet.strictaws.rules import DEFAULT_ACCOUNT_CONCURRENCY, GroupSize

ADMIN_USER = "runnerfleet-sandbox-admin"
ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
CONCURRENCY_ENV = "RUNNERFLEET_SANDBOX_LAMBDA_CONCURRENCY"
PARTITION = "aws"


class TrustError(Exception):
    """The role's trust policy does not let the service assume it (AWS: AccessDenied)."""


LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
PENDING_WAIT = "Pending:Wait"


@dataclass
class LifecycleAction:
    group: str
    hook: str
    instance_id: str
    token: str
    result: str | None = None
    transition: str | None = None  # the hook's, when moto knows the hook
    default_result: str = "ABANDON"
    heartbeat_timeout: float | None = None
    deadline: float | None = None  # on the actions' clock; None: no timeout known


def _group_backend(group: str, account: str) -> tuple[Any, Any] | None:
    """(moto's autoscaling backend, group) of the group named `group`, in any region."""
    for backend in list(autoscaling_backends[account].values()):
        found = backend.autoscaling_groups.get(group)
        if found is not None:
            return backend, found
    return None


def _instance_state(group: Any, instance_id: str) -> Any:
    return next((s for s in group.instance_states if s.instance.id == instance_id), None)


_counting_pending = False


def count_pending_as_active() -> None:
    """moto counts only InService members towards desired capacity; AWS counts a launching
    instance (Pending:Wait) too, so moto would launch a second one for it."""
    global _counting_pending
    if _counting_pending:
        return
    from moto.autoscaling.models import FakeAutoScalingGroup

    def active_instances(self: Any) -> list[Any]:
        return [x for x in self.instance_states if x.lifecycle_state in ("InService", PENDING_WAIT)]

    FakeAutoScalingGroup.active_instances = active_instances  # type: ignore[method-assign]
    _counting_pending = True


class LifecycleActions:
    """Active (and completed) lifecycle actions, thread-safe (moto serves on threads).

    An action of a hook moto knows takes the hook's heartbeat timeout and default result. For
    a launch hook (`autoscaling:EC2_INSTANCE_LAUNCHING`) the instance is in Pending:Wait
    while its action is active (moto's own state, which otherwise says InService): CONTINUE
    puts it InService; ABANDON terminates it and the group launches a replacement (desired
    capacity kept); at its heartbeat timeout the hook's default result applies (checked on
    every Auto Scaling request and listing, `expire`), and RecordLifecycleActionHeartbeat
    restarts that timeout.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, account: str = DEFAULT_ACCOUNT_ID
    ) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, LifecycleAction] = {}
        self._completed: list[LifecycleAction] = []
        self._clock = clock
        self._account = account
        count_pending_as_active()

    def register(self, group: str, hook: str, instance_id: str, token: str | None = None) -> str:
        token = token or str(uuid.uuid4())
        action = LifecycleAction(group, hook, instance_id, token)
        with self._lock:
            found = _group_backend(group, self._account)
            known = found[0].lifecycle_hooks.get(f"{group}_{hook}") if found else None
            if found is not None and known is not None:
                action.transition = known.lifecycle_transition
                action.default_result = str(known.default_result)
                action.heartbeat_timeout = float(known.heartbeat_timeout)
                action.deadline = self._clock() + action.heartbeat_timeout
                member = _instance_state(found[1], instance_id)
                launching = action.transition == LAUNCHING and member is not None
                if launching and member.lifecycle_state == "InService":
                    member.lifecycle_state = PENDING_WAIT
            self._active[token] = action
        return token

    def _find(
        self, group: str, hook: str, token: str | None, instance_id: str | None
    ) -> LifecycleAction | None:
        for action in self._active.values():
            if action.group != group or action.hook != hook:
                continue
            if token is not None and action.token == token:
                return action
            if token is None and instance_id is not None and action.instance_id == instance_id:
                return action
        return None

    def active(self, group: str, hook: str, token: str | None, instance_id: str | None) -> bool:
        self.expire()
        with self._lock:
            return self._find(group, hook, token, instance_id) is not None

    def heartbeat(self, group: str, hook: str, token: str | None, instance_id: str | None) -> None:
        with self._lock:
            action = self._find(group, hook, token, instance_id)
            if action is not None and action.heartbeat_timeout is not None:
                action.deadline = self._clock() + action.heartbeat_timeout

    def complete(
        self, group: str, hook: str, token: str | None, instance_id: str | None, result: str
    ) -> LifecycleAction | None:
        with self._lock:
            action = self._find(group, hook, token, instance_id)
            if action is not None:
                self._settle(action, result)
            return action

    def expire(self) -> None:
        """Apply the default result of every action past its heartbeat timeout."""
        now = self._clock()
        with self._lock:
            for action in list(self._active.values()):
                if action.deadline is not None and now >= action.deadline:
                    self._settle(action, action.default_result)

    def _settle(self, action: LifecycleAction, result: str) -> None:
        del self._active[action.token]
        action.result = result
        self._completed.append(action)
        if action.transition != LAUNCHING:
            return
        found = _group_backend(action.group, self._account)
        member = _instance_state(found[1], action.instance_id) if found else None
        if found is None or member is None:
            return
        if result == "ABANDON":
            found[0].terminate_instance(action.instance_id, should_decrement=False)
        elif member.lifecycle_state == PENDING_WAIT:
            member.lifecycle_state = "InService"

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        self.expire()
        with self._lock:
            return {
                "active": [asdict(a) for a in self._active.values()],
                "completed": [asdict(a) for a in self._completed],
            }


class MotoState:
    """`AwsState` over moto's backends for one region (the request's signing region)."""

    def __init__(self, region: str, lifecycle: LifecycleActions, account: str = DEFAULT_ACCOUNT_ID):
        self.region = region
        self.account = account
        self.lifecycle = lifecycle

    # ---- Auto Scaling -------------------------------------------------------------------------
    def _groups(self) -> dict[str, Any]:
        groups: dict[str, Any] = autoscaling_backends[self.account][self.region].autoscaling_groups
        return groups

    @staticmethod
    def _size(group: Any) -> GroupSize:
        return GroupSize(int(group.min_size), int(group.max_size), int(group.desired_capacity or 0))

    def group(self, name: str) -> GroupSize | None:
        group = self._groups().get(name)
        return None if group is None else self._size(group)

    def group_of_instance(self, instance_id: str) -> GroupSize | None:
        for group in self._groups().values():
            if any(s.instance.id == instance_id for s in group.instance_states):
                return self._size(group)
        return None

    def lifecycle_action_active(
        self, group: str, hook: str, token: str | None, instance_id: str | None
    ) -> bool:
        return self.lifecycle.active(group, hook, token, instance_id)

    # ---- SSM -----------------------------------------------------------------------------------
    def parameter_tier(self, name: str) -> str | None:
        parameter = ssm_backends[self.account][self.region].get_parameter(name)
        return None if parameter is None else str(parameter.tier or "Standard")

    # ---- IAM and Lambda ------------------------------------------------------------------------
    def role_allows(self, role_arn: str, action: str) -> bool:
        iam = iam_backends[self.account][PARTITION]
        try:
            role = iam.get_role_by_arn(role_arn)
        except Exception:  # moto raises its own NotFound; an unknown role allows nothing
            return False
        policies: list[Any] = [
            iam.get_role_policy(role.name, name)[1] for name in iam.list_role_policies(role.name)
        ]
        policies += iam.list_attached_role_policies(role.name)[0]
        allowed = False
        for policy in policies:
            result = IAMPolicy(policy).is_action_permitted(action, "*")
            if result == PermissionResult.DENIED:
                return False
            allowed = allowed or result == PermissionResult.PERMITTED
        return allowed

    def role_trusts(self, role_arn: str, service: str) -> bool:
        try:
            role = iam_backends[self.account][PARTITION].get_role_by_arn(role_arn)
        except Exception:  # an unknown role cannot be assumed
            return False
        return trusts_service(role.assume_role_policy_document, service)

    def _functions(self) -> list[Any]:
        functions = list(lambda_backends[self.account][self.region].list_functions())
        return functions

    def function_role(self, function_name: str) -> str | None:
        for fn in self._functions():
            if function_name in (fn.function_name, fn.function_arn):
                return str(fn.role)
        return None

    def reserved_concurrency_of_others(self, function_name: str) -> int:
        return sum(
            int(fn.reserved_concurrency or 0)
            for fn in self._functions()
            if function_name not in (fn.function_name, fn.function_arn)
        )

    def account_concurrency(self) -> int:
        raw = os.environ.get(CONCURRENCY_ENV, "")
        return int(raw) if raw.strip().isdigit() else DEFAULT_ACCOUNT_CONCURRENCY


def seed_admin(access_key: str, secret_key: str, account: str = DEFAULT_ACCOUNT_ID) -> str:
    """Create (idempotently) the admin user owning `access_key`; returns the user's ARN."""
    iam = iam_backends[account][PARTITION]
    try:
        user = iam.get_user(ADMIN_USER)
    except Exception:
        user = iam.create_user(region_name="us-east-1", user_name=ADMIN_USER)
        iam.put_user_policy(ADMIN_USER, "AdministratorAccess", ADMIN_POLICY)
    if not any(k.access_key_id == access_key for k in user.access_keys):
        key = iam.create_access_key(ADMIN_USER)
        iam.access_keys.pop(key.physical_resource_id, None)
        key.access_key_id = access_key
        key.secret_access_key = secret_key
        iam.access_keys[key.physical_resource_id] = key
    return str(user.arn)


def _statements(document: Any) -> list[dict[str, Any]]:
    doc = json.loads(document) if isinstance(document, str) else document
    statements = doc.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def trusts_service(trust_policy: Any, service: str) -> bool:
    """Whether a trust policy allows `service` to call sts:AssumeRole (no Deny matching)."""
    allowed = False
    for st in _statements(trust_policy):
        actions = _as_list(st.get("Action"))
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principal = st.get("Principal") or {}
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if service not in services and principal != "*":
            continue
        if st.get("Effect") == "Deny":
            return False
        allowed = allowed or st.get("Effect") == "Allow"
    return allowed


def assume_as_service(
    role_arn: str,
    service: str,
    session_name: str,
    region: str,
    duration: int = 3600,
    account: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, str]:
    """Credentials of `role_arn` as `service` obtains them; TrustError when it may not."""
    iam = iam_backends[account][PARTITION]
    try:
        role = iam.get_role_by_arn(role_arn)
    except Exception as exc:
        raise TrustError(f"role {role_arn} does not exist") from exc
    if not trusts_service(role.assume_role_policy_document, service):
        raise TrustError(
            f"the trust policy of {role_arn} does not allow {service} to call sts:AssumeRole"
        )
    assumed = sts_backends[account][PARTITION].assume_role(
        region_name=region,
        role_session_name=session_name,
        role_arn=role_arn,
        policy="",
        duration=duration,
        external_id="",
    )
    return {
        "AccessKeyId": assumed.access_key_id,
        "SecretAccessKey": assumed.secret_access_key,
        "SessionToken": assumed.session_token,
        "Expiration": assumed.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "AssumedRoleArn": str(assumed.arn),
    }
