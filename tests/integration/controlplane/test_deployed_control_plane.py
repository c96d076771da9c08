"""The control plane as deployed: infra/modules/control-plane applied in the sandbox, its three
functions run from the CLI-built zip under Python 3.12 with only boto3, and what that shows.

One deployment serves every test here (cp_deployment.py): credentials written to SSM before the
first plan, plan, apply, plan again; then the scenarios below run each handler Terraform
names, from the unpacked zip, in a fresh 3.12 venv holding only boto3/botocore, with
`python -I` and the function's own environment; then a last plan and state pull. Tests only
read what that run recorded.

Scenarios (against moto and the GitHub emulator):
- webhook: an unsigned and a mis-signed `workflow_job` delivery (401, nothing changes), then
  the emulator's signed `queued` delivery (the pool's desired capacity rises) and its
  duplicate, then the job's signed `in_progress` on the launched host (protected from
  scale-in);
- registrar: the launched host's `running` state change (a JIT config in SSM), a scan, a
  launch lifecycle action, the host's termination (its claim is released);
- reconcile: a scheduled pass with the host up, and one after its termination (the
  registration of the gone host is deleted).

IAM (deliverable 3): which API calls does each function make? Two views, because either alone
can be fooled:
- run-time: a botocore `before-call` hook in the driver records every call (service and
  operation; a DynamoDB transaction's item kinds) while the handler runs the scenarios. It sees
  exactly what the code does, whatever its structure (the control plane is being refactored),
  but only on the paths the scenarios take.
- static: boto_calls.py reads every boto3 call from the source of the modules the zip carries.
  It sees every path, but not which function takes it.
The test then requires: (1) every recorded call of a function is allowed by that function's
role, as rendered in the plan JSON (`terraform show -json`; the second plan's prior state
holds the policies with their real ARNs), so removing an action from a policy fails; (2)
every action a role grants is recorded for that function, or listed in UNEXERCISED with the
reason the scenarios cannot reach it (each such entry must still be a call in the code); (3)
every call in the code is recorded for some function or listed in NOT_LAMBDA (code the CLI
or sandbox runs through the same modules). So a new boto3 call in the code, a grant nobody
uses, and a call a role lacks all fail, naming the call and where it is.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from boto_calls import iam_actions, static_calls
from cp_deployment import NAME, OWNER, POOL, REPO, Deployed, Invocation, deploy, shutdown

from runnerfleet.controlplane.packaging import HANDLERS
from runnerfleet.vocabulary import pool_runner_name

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]

SECRET = "whsec-" + hashlib.sha256(b"runnerfleet-test-webhook").hexdigest()[:32]
GROUP = f"{NAME}-{POOL}"
# Actions the Lambda service uses on the function's behalf (logs, traces), not the code.
PLATFORM = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
            "xray:PutTelemetryRecords"}  # fmt: skip

# Granted but not reached by the scenarios against moto, with the reason (still in the code).
_REFRESH = (
    "a job queued longer than the refresh age is asked of GitHub again and its status recorded "
    "with the job table's transaction (item kinds Put/Update/Delete/ConditionCheck)"
)
UNEXERCISED: dict[str, dict[str, str]] = {
    "webhook": {},
    "reconcile": {
        "autoscaling:SetDesiredCapacity": (
            "the pass scales a pool whose queue and size disagree; the webhook already raised "
            "this one for its job"
        ),
        "autoscaling:SetInstanceProtection": "protects busy hosts; no job runs in the scenario",
        "autoscaling:TerminateInstanceInAutoScalingGroup": (
            "scale-in of idle hosts and replacement of hosts that never registered: needs a "
            "host older than the boot timeout (600 s) or idle past its grace"
        ),
        "ssm:DeleteParameter": (
            "registrations of gone hosts: moto reports a terminated instance as terminated at "
            "once (AWS shows shutting-down first), so the pass sees it gone only after "
            "parameter_grace (600 s)"
        ),
        "dynamodb:PutItem": _REFRESH,
        "dynamodb:DeleteItem": _REFRESH,
        "dynamodb:ConditionCheckItem": _REFRESH,
    },
    "registrar": {
        "ssm:DeleteParameter": (
            "replaces an unread registration token of a persistent fleet after token_refresh; "
            "this fleet is ephemeral (JIT configs)"
        ),
    },
}
# Calls in the package's modules that no function makes (the CLI and the sandbox share them).
NOT_LAMBDA: dict[tuple[str, str], str] = {
    ("dynamodb", "DescribeTable"): (
        "compose.deployed_table: the CLI and sandbox probe for the table; the functions get "
        "RUNNERFLEET_TABLE from Terraform"
    ),
    ("dynamodb", "CreateTable"): "the job table for tests and `serve` without a deployment",
    ("secretsmanager", "GetSecretValue"): (
        "only with github_credentials_secret_arn (this deployment uses SSM); the module grants "
        "it on that secret alone"
    ),
}


# ---- the run -----------------------------------------------------------------------------


def url_event(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """A function URL invocation (payload 2.0): lower-case header names, body as text."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {"http": {"method": "POST", "path": "/", "sourceIp": "140.82.112.1"}},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def state_change(instance_id: str, state: str) -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.ec2",
        "detail-type": "EC2 Instance State-change Notification",
        "region": "us-east-1",
        "resources": [f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }


SCHEDULED = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event",
             "detail": {}}  # fmt: skip


@dataclass
class Run:
    deployed: Deployed
    invocations: dict[str, list[tuple[str, Invocation]]] = field(default_factory=dict)
    desired: dict[str, int] = field(default_factory=dict)
    registrations: dict[str, str] = field(default_factory=dict)
    after_termination: list[str] = field(default_factory=list)
    final_plan_text: str = ""
    final_state_text: str = ""
    instance_id: str = ""
    protected: list[str] = field(default_factory=list)

    def invoke(self, role: str, label: str, events: list[Any]) -> Invocation:
        inv = self.deployed.invoke(role, events)
        self.invocations.setdefault(role, []).append((label, inv))
        return inv

    def group_desired(self) -> int:
        asg = self.deployed.client("autoscaling")
        (g,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]
        return int(g["DesiredCapacity"])

    def group_protected(self) -> list[str]:
        asg = self.deployed.client("autoscaling")
        (g,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]
        return sorted(i["InstanceId"] for i in g["Instances"] if i.get("ProtectedFromScaleIn"))

    def in_progress(self, queued_body: bytes, instance_id: str) -> dict[str, Any]:
        """GitHub's in_progress delivery for the queued job, picked up by the host's runner,
        signed with the webhook secret as GitHub signs it."""
        payload = json.loads(queued_body)
        job = payload["workflow_job"]
        job.update(status="in_progress", runner_id=4242, runner_group_id=1,
                   runner_group_name="Default", started_at=job["created_at"],
                   runner_name=pool_runner_name(NAME, POOL, instance_id))  # fmt: skip
        payload["action"] = "in_progress"
        body = json.dumps(payload, separators=(",", ":")).encode()
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "workflow_job",
                   "X-GitHub-Delivery": "8a1c3e2f-0000-4000-8000-000000000001",
                   "X-Hub-Signature-256": f"sha256={digest}",
                   "User-Agent": "GitHub-Hookshot/emulator"}  # fmt: skip
        return url_event(headers, body)

    def fleet_instances(self) -> list[str]:
        ec2 = self.deployed.client("ec2")
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "tag:runnerfleet:fleet", "Values": [NAME]},
                     {"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )  # fmt: skip
        return [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]

    def registration_values(self) -> dict[str, str]:
        ssm = self.deployed.client("ssm")
        out: dict[str, str] = {}
        for page in ssm.get_paginator("get_parameters_by_path").paginate(
            Path=f"/{NAME}/runners", WithDecryption=True
        ):
            out.update({p["Name"]: p["Value"] for p in page["Parameters"]})
        return out

    def scenarios(self) -> None:
        gh = self.deployed.github
        job_id = gh.enqueue_job(OWNER, REPO, ["self-hosted", "linux", "x64"])
        (queued,) = [
            d for d in gh.deliveries.values() if d.job_id == job_id and d.action == "queued"
        ]
        unsigned = {k: v for k, v in queued.headers.items() if k != "X-Hub-Signature-256"}
        forged = hmac.new(b"not-the-secret", queued.body, hashlib.sha256).hexdigest()
        missigned = {**queued.headers, "X-Hub-Signature-256": f"sha256={forged}",
                     "X-GitHub-Delivery": queued.headers["X-GitHub-Delivery"] + "-x"}  # fmt: skip
        self.desired["before"] = self.group_desired()
        bad = [url_event(unsigned, queued.body), url_event(missigned, queued.body)]
        self.invoke("webhook", "unsigned and mis-signed", bad)
        self.desired["after_bad"] = self.group_desired()
        signed = url_event(queued.headers, queued.body)
        self.invoke("webhook", "signed queued, then its duplicate", [signed, signed])
        self.desired["after_signed"] = self.group_desired()

        instances = self.fleet_instances()
        assert instances, "the raised group launched no instance in moto"
        self.instance_id = iid = instances[0]
        lifecycle = {
            "version": "0", "source": "aws.autoscaling",
            "detail-type": "EC2 Instance-launch Lifecycle Action",
            "detail": {"EC2InstanceId": iid, "AutoScalingGroupName": GROUP,
                       "LifecycleHookName": f"{GROUP}-launch",
                       "LifecycleActionToken": "0f4c1d8e-1111-2222-3333-444455556666",
                       "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"},
        }  # fmt: skip
        started = self.in_progress(queued.body, iid)
        self.invoke("webhook", "signed in_progress on the host", [started])
        self.protected = self.group_protected()
        self.invoke("registrar", "running, scan", [state_change(iid, "running"), SCHEDULED])
        self.registrations = self.registration_values()
        self.invoke("registrar", "launch lifecycle action", [lifecycle])
        self.invoke("reconcile", "scheduled pass", [SCHEDULED])
        self.deployed.client("ec2").terminate_instances(InstanceIds=[iid])
        self.invoke("registrar", "terminated", [state_change(iid, "terminated")])
        # Cleaning up after a gone host (its registration, its runner) is the reconciler's.
        self.invoke("reconcile", "pass after the termination", [SCHEDULED])
        self.after_termination = sorted(self.registration_values())
        dump = {role: {label: inv.calls for label, inv in invs}
                for role, invs in self.invocations.items()}  # fmt: skip
        (self.deployed.home / "recorded-calls.json").write_text(json.dumps(dump, indent=1))

    def recorded(self, role: str) -> dict[str, list[str]]:
        """IAM action -> where (scenario) for every call the function made."""
        out: dict[str, list[str]] = {}
        for label, inv in self.invocations.get(role, []):
            for service, op, items in inv.calls:
                for action in iam_actions(service, op, list(items) if items else None):
                    out.setdefault(action, []).append(label)
        return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("cp-deployed")
    deployed = deploy(tmp, SECRET)
    try:
        r = Run(deployed)
        r.scenarios()
        tf = deployed.terraform
        final = tf.plan(tmp / "root" / "final.tfplan")
        r.final_plan_text = json.dumps(tf.show_json(final.plan_file))  # no-ops too
        r.final_state_text = tf.run(["state", "pull"], capture=True).stdout
        yield r
    finally:
        shutdown(deployed)


# ---- acceptance: what the plan holds ---------------------------------------------------------


def _resources(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [rc for rc in plan["resource_changes"] if rc["mode"] == "managed"]


def test_plan_holds_three_functions_a_url_and_the_reconcile_schedule(run: Run) -> None:
    plan = run.deployed.plan_json
    functions = {
        rc["change"]["after"]["function_name"]: rc["change"]["after"]["handler"]
        for rc in _resources(plan) if rc["type"] == "aws_lambda_function"
    }  # fmt: skip
    assert functions == {f"{NAME}-{role}": handler for role, handler in HANDLERS.items()}
    urls = [rc for rc in _resources(plan) if rc["type"] == "aws_lambda_function_url"]
    assert [u["change"]["after"]["authorization_type"] for u in urls] == ["NONE"]
    rules = {
        rc["change"]["after"]["name"]: rc["change"]["after"].get("schedule_expression")
        for rc in _resources(plan) if rc["type"] == "aws_cloudwatch_event_rule"
    }  # fmt: skip
    assert rules[f"{NAME}-reconcile"] == "rate(1 minute)"
    permissions = {
        rc["change"]["after"]["action"]
        for rc in _resources(plan)
        if rc["type"] == "aws_lambda_permission" and rc["change"]["after"]["principal"] == "*"
    }
    assert permissions == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}


# ---- deliverable 2: no secret in Terraform ---------------------------------------------------

_TOKEN = re.compile(r"gh[spuor]_[A-Za-z0-9]{16,}")


def _secret_findings(text: str, secrets: dict[str, str]) -> list[str]:
    found = [name for name, value in secrets.items() if value and value in text]
    found += [f"token {m[:8]}..." for m in _TOKEN.findall(text)]
    return found


def test_no_secret_in_plan_or_state(run: Run) -> None:
    """The App key, the webhook secret, ghs_/ghp_ tokens and the JIT configs the registrar
    minted appear in none of the plans' JSON and none of the raw states (the first, after the
    apply, and after the whole run); and Terraform manages no /<name>/github parameter."""
    d = run.deployed
    key_body = "".join(d.secrets["private-key"].strip().splitlines()[1:-1])
    secrets = {
        "App private key": d.secrets["private-key"],
        "App private key (base64 body line)": d.secrets["private-key"].splitlines()[1],
        "App private key (body)": key_body,
        "webhook secret": d.secrets["webhook-secret"],
        "PAT": d.secrets["token"],
    }
    assert run.registrations, "the registrar wrote no registration, so no JIT config was scanned"
    secrets.update({f"JIT config {k}": v for k, v in run.registrations.items()})
    documents = {
        "first plan": d.plan_text,
        "plan after apply": d.replan_text,
        "state after apply": d.state_text,
        "plan after the run": run.final_plan_text,
        "state after the run": run.final_state_text,
    }
    leaks = {
        where: f for where, text in documents.items() if (f := _secret_findings(text, secrets))
    }
    assert not leaks, f"secrets in Terraform's documents: {leaks}"
    for text in documents.values():
        assert f"/{NAME}/github/" not in text or '"type":"aws_ssm_parameter"' not in text
    managed = [
        rc["address"] for rc in d.plan_json["resource_changes"]
        if rc["type"] == "aws_ssm_parameter" or (rc["mode"] == "data" and "ssm" in rc["type"])
    ]  # fmt: skip
    assert managed == [], f"Terraform must neither manage nor read the credentials: {managed}"


def test_scan_finds_a_planted_secret() -> None:
    """The scan can fail: a token or a known value in a document is found."""
    text = '{"value": "ghs_' + "A" * 36 + '", "x": "s3cr3t-value"}'
    assert _secret_findings(text, {"webhook secret": "s3cr3t-value"}) == [
        "webhook secret", "token ghs_AAAA...",
    ]  # fmt: skip


def test_plan_succeeds_with_credentials_written_first(run: Run) -> None:
    """Credentials existed in SSM before the first plan; plan and apply went through (they
    used to fail with ParameterAlreadyExists), the re-plan is clean, the values untouched."""
    d = run.deployed
    assert d.replan_json.get("resource_changes") is not None
    changes = [rc["address"] for rc in d.replan_json["resource_changes"]
               if rc["change"]["actions"] != ["no-op"]]  # fmt: skip
    assert changes == [], f"the apply left drift: {changes}"
    value = d.client("ssm").get_parameter(
        Name=f"/{NAME}/github/webhook-secret", WithDecryption=True
    )
    assert value["Parameter"]["Value"] == SECRET


# ---- deliverable 4: the handlers from the zip under 3.12 ------------------------------------


def test_each_handler_runs_from_the_zip_with_only_boto3(run: Run) -> None:
    for role in HANDLERS:
        assert run.deployed.functions[role]["handler"] == HANDLERS[role]
        for label, inv in run.invocations[role]:
            assert inv.present == [], f"{role}: {inv.present} importable in the Lambda venv"
            assert not {"typer", "rich", "pydantic", "moto"} & set(inv.loaded), label
            assert inv.files["runnerfleet"].startswith(str(run.deployed.task)), inv.files
            assert "site-packages" in inv.files["boto3"], "boto3 comes from the runtime venv"
            if "jwt" in inv.files:
                assert inv.files["jwt"].startswith(str(run.deployed.task)), inv.files


def _values(run: Run, role: str, label: str) -> list[dict[str, Any]]:
    (inv,) = [inv for lab, inv in run.invocations[role] if lab == label]
    return inv.results


def test_webhook_refuses_unsigned_and_missigned_deliveries(run: Run) -> None:
    results = _values(run, "webhook", "unsigned and mis-signed")
    assert [r["ok"] for r in results] == [True, True], results
    assert [r["value"]["statusCode"] for r in results] == [401, 401], results
    assert run.desired["before"] == run.desired["after_bad"] == 0


def test_signed_queued_job_raises_the_pools_capacity(run: Run) -> None:
    first, duplicate = _values(run, "webhook", "signed queued, then its duplicate")
    assert first["ok"] and 200 <= first["value"]["statusCode"] < 300, first
    assert duplicate["ok"] and duplicate["value"]["statusCode"] == 200, duplicate
    assert run.desired["after_signed"] == 1


def test_in_progress_job_protects_its_host(run: Run) -> None:
    (result,) = _values(run, "webhook", "signed in_progress on the host")
    assert result["ok"] and 200 <= result["value"]["statusCode"] < 300, result
    assert run.protected == [run.instance_id]


def test_registrar_writes_the_registration_and_releases_its_claim(run: Run) -> None:
    running, scan = _values(run, "registrar", "running, scan")
    assert running["ok"] and scan["ok"], (running, scan)
    name = f"/{NAME}/runners/{run.instance_id}"
    assert name in run.registrations, run.registrations
    (terminated,) = _values(run, "registrar", "terminated")
    assert terminated["ok"], terminated
    assert "dynamodb:DeleteItem" in {
        a for s, o, i in run.invocations["registrar"][-1][1].calls
        for a in iam_actions(s, o, list(i) if i else None)
    }, "the gone host's claim is released"  # fmt: skip


def test_reconcile_passes_run(run: Run) -> None:
    (first,) = _values(run, "reconcile", "scheduled pass")
    (after,) = _values(run, "reconcile", "pass after the termination")
    assert first["ok"] and after["ok"], (first, after)


# ---- deliverable 3: each role grants what its code calls ------------------------------------


def role_policies(plan: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """{role: statements} of the control plane's aws_iam_role_policy resources, from the prior
    state in the plan JSON (rendered, with real ARNs)."""

    def walk(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield from module.get("resources", [])
        for child in module.get("child_modules", []):
            yield from walk(child)

    out: dict[str, list[dict[str, Any]]] = {}
    root = plan["prior_state"]["values"]["root_module"]
    for res in walk(root):
        if res["type"] == "aws_iam_role_policy" and res["values"]["role"].startswith(f"{NAME}-"):
            stmts = json.loads(res["values"]["policy"])["Statement"]
            out[res["values"]["role"].removeprefix(f"{NAME}-")] = (
                stmts if isinstance(stmts, list) else [stmts]
            )
    return out


def granted_actions(statements: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for s in statements:
        if s.get("Effect", "Allow") == "Allow":
            acts = s.get("Action", [])
            out |= set([acts] if isinstance(acts, str) else acts)
    return out


def allows(granted: set[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), g.lower()) for g in granted)


def missing_grants(recorded: dict[str, list[str]], granted: set[str]) -> list[str]:
    return sorted(f"{a} (made in: {', '.join(sorted(set(w)))})"
                  for a, w in recorded.items() if not allows(granted, a))  # fmt: skip


@pytest.fixture(scope="module")
def policies(run: Run) -> dict[str, list[dict[str, Any]]]:
    found = role_policies(run.deployed.replan_json)
    assert sorted(found) == sorted(HANDLERS), f"one policy per function: {sorted(found)}"
    return found


@pytest.mark.parametrize("role", sorted(HANDLERS))
def test_role_allows_every_call_the_function_makes(
    run: Run, policies: dict[str, list[dict[str, Any]]], role: str
) -> None:
    recorded = run.recorded(role)
    assert recorded, f"{role} made no AWS call in its scenarios"
    missing = missing_grants(recorded, granted_actions(policies[role]))
    assert not missing, f"{NAME}-{role}'s role lacks actions its code calls: {missing}"


@pytest.mark.parametrize("role", sorted(HANDLERS))
def test_role_grants_nothing_the_function_does_not_call(
    run: Run, policies: dict[str, list[dict[str, Any]]], role: str
) -> None:
    code = {a for c in static_calls()[0] for a in iam_actions(c.service, c.operation)}
    for action, why in UNEXERCISED[role].items():
        assert action in code, f"UNEXERCISED[{role!r}] lists {action}, which no code calls"
        assert len(why) > 20
    recorded = set(run.recorded(role))
    extra = sorted(
        a for a in granted_actions(policies[role]) - PLATFORM
        if a not in recorded and a not in UNEXERCISED[role] and not a.startswith("kms:")
    )  # fmt: skip
    assert not extra, (
        f"{NAME}-{role}'s role grants actions its code never called in the scenarios: {extra} "
        "(remove them, exercise them in a scenario, or list them in UNEXERCISED with the reason)"
    )


def test_every_call_in_the_code_is_made_by_some_function(run: Run) -> None:
    calls, ambiguous = static_calls()
    assert not ambiguous, f"calls whose service cannot be told: {ambiguous}"
    assert calls, "the static analysis found no boto3 call at all"
    made = {(s, o) for invs in run.invocations.values() for _, inv in invs for s, o, _ in inv.calls}
    unexercised = {a for per_role in UNEXERCISED.values() for a in per_role}
    untested = sorted(
        f"{c.service}:{c.operation} at {c.where}" for c in calls
        if (c.service, c.operation) not in made and (c.service, c.operation) not in NOT_LAMBDA
        and not iam_actions(c.service, c.operation) & unexercised
    )  # fmt: skip
    assert not untested, (
        "boto3 calls in the package that no function made in the scenarios (add a scenario, "
        f"or list them in NOT_LAMBDA / UNEXERCISED with the reason): {untested}"
    )
    for key in NOT_LAMBDA:
        assert key in {(c.service, c.operation) for c in calls}, f"NOT_LAMBDA {key} is stale"


def test_a_removed_action_is_caught() -> None:
    """The comparison can fail: drop one action from a role and the call is reported."""
    recorded = {"ssm:GetParameter": ["signed queued"], "dynamodb:PutItem": ["signed queued"]}
    assert missing_grants(recorded, {"ssm:GetParameter", "dynamodb:PutItem"}) == []
    assert missing_grants(recorded, {"ssm:GetParameter"}) == [
        "dynamodb:PutItem (made in: signed queued)"
    ]
    assert missing_grants(recorded, {"ssm:Get*", "dynamodb:*"}) == []
