"""One sandbox deployment of the control plane, shared by the tests of this folder.

`deploy(tmp, secret)` does what a user does:
- starts the sandbox's AWS emulator (moto server on 127.0.0.1, the sandbox's own start-up)
  and, in process, the GitHub emulator with the App installed on the owner;
- writes the GitHub credentials and the webhook secret to SSM `/<name>/github/*` BEFORE the
  first plan (the documented order; Terraform used to fail with ParameterAlreadyExists);
- creates a runner pool's Auto Scaling group tagged as infra/modules/runner-fleet tags it
  (the control plane finds its groups by tag; the runner-fleet module has its own tests);
- builds the package with the CLI (`runnerfleet registrar package`, locked dependencies),
  then init/plan/apply of infra/modules/control-plane from a small root module with the
  sandbox's provider override, and a second plan;
- keeps the plan JSON, the raw state (`terraform state pull`) and the functions as Terraform
  deployed them (handler, environment, role), and unpacks the zip into an empty folder.

`invoke(...)` runs one handler from the unpacked zip the way Lambda does: a fresh venv of
the runtime's Python (3.12) holding only boto3/botocore, `python -I`, the function's own
environment from Terraform (pointed at the emulators), and a botocore `before-call` recorder
that lists every AWS API call the handler makes (service, operation).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runnerfleet import pyruntime
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.sandbox import Sandbox
from runnerfleet.terraform import Terraform, write_cli_config
from runnerfleet.vocabulary import FLEET_TAG, POOL_TAG, ROLE_TAG, RUNNER_ROLE

NAME = "rfcp"
OWNER = "acme-cp"
REPO = "app"
POOL = "default"
REGION = "us-east-1"
MODULE = Path(__file__).resolve().parents[3] / "infra" / "modules" / "control-plane"
# The runtime's SDK: the python3.12 runtime ships boto3/botocore (a 1.3x/1.40 release).
RUNTIME_SDK = ("boto3==1.40.4", "botocore==1.40.4")
ABSENT = ("typer", "rich", "pydantic", "moto")

DRIVER = r"""
import importlib, importlib.util, json, sys, traceback
spec = json.load(open(sys.argv[1]))
sys.path.insert(0, spec["task"])  # what Lambda puts on sys.path: the unpacked package
present = [m for m in spec["absent"] if importlib.util.find_spec(m) is not None]
calls = []
import botocore.session
_init = botocore.session.Session.__init__
def _record(model=None, params=None, **_):
    items = None
    if model.name in ("TransactWriteItems", "TransactGetItems"):
        items = sorted({k for item in params.get("TransactItems", []) for k in item})
    calls.append([model.service_model.service_name, model.name, items])
def _patched(self, *a, **k):
    _init(self, *a, **k)
    self.register("before-call", _record)
botocore.session.Session.__init__ = _patched
module, _, attr = spec["handler"].rpartition(".")
handler = getattr(importlib.import_module(module), attr)
results = []
for event in spec["events"]:
    try:
        results.append({"ok": True, "value": handler(event, None)})
    except Exception as exc:
        results.append({"ok": False, "error": f"{type(exc).__name__}: {exc}",
                        "trace": traceback.format_exc()[-3000:]})
loaded = sorted(m.split(".")[0] for m in sys.modules)
print(json.dumps({"results": results, "calls": calls, "present": present,
                  "files": {m: getattr(sys.modules[m], "__file__", None) or ""
                            for m in ("runnerfleet", "jwt", "cryptography", "httpx", "boto3")
                            if m in sys.modules},
                  "loaded": sorted(set(loaded))}))
"""


@dataclass
class Invocation:
    results: list[dict[str, Any]]
    calls: list[tuple[str, str, tuple[str, ...] | None]]  # service, operation, items
    present: list[str]
    files: dict[str, str]
    loaded: list[str]
    stderr: str


@dataclass
class Deployed:
    home: Path
    sandbox: Sandbox
    github: GitHubEmulator
    installation_id: int
    secrets: dict[str, str]
    plan_json: dict[str, Any]
    plan_text: str
    replan_json: dict[str, Any]
    replan_text: str
    state_text: str
    package: Path
    task: Path
    python: Path
    terraform: Terraform
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return self.sandbox.client(service)

    def invoke(self, role: str, events: list[Any], timeout: float = 300) -> Invocation:
        """Run function `role`'s handler (as Terraform names it) on `events`, in order."""
        fn = self.functions[role]
        spec = self.home / f"invoke-{role}.json"
        spec.write_text(
            json.dumps(
                {"task": str(self.task), "handler": fn["handler"], "events": events,
                 "absent": list(ABSENT)}
            )
        )  # fmt: skip
        driver = self.home / "driver.py"
        driver.write_text(DRIVER)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"}
        env.update(fn["environment"])
        env.update(self.sandbox.aws_env())
        env["AWS_LAMBDA_FUNCTION_NAME"] = fn["function_name"]
        # The emulator stands in for api.github.com (Terraform derived the real URL).
        env["RUNNERFLEET_GITHUB_API_URL"] = self.github.url
        env = {k: v for k, v in env.items() if v != ""}
        proc = subprocess.run(
            [str(self.python), "-I", str(driver), str(spec)],
            capture_output=True, text=True, timeout=timeout, cwd=self.task, env=env,
            check=False,
        )  # fmt: skip
        if proc.returncode != 0 or not proc.stdout.strip():
            raise AssertionError(f"the driver failed (exit {proc.returncode}):\n{proc.stderr}")
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
        return Invocation(
            results=doc["results"],
            calls=[(s, o, tuple(i) if i is not None else None) for s, o, i in doc["calls"]],
            present=doc["present"],
            files=doc["files"],
            loaded=doc["loaded"],
            stderr=proc.stderr,
        )


ROOT_TF = """
terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.100, < 7" }
  }
}

variable "name" {
  type = string
}

variable "tags" {
  type    = map(string)
  default = {}
}

variable "package_path" {
  type = string
}

variable "github_owner" {
  type = string
}

provider "aws" {
  region = "us-east-1"
}

module "control_plane" {
  source = "./control-plane"

  name         = var.name
  package_path = var.package_path
  github_owner = var.github_owner
  mode         = "autoscaled"
  ephemeral    = true
  pool_labels  = { default = [] }
}

output "control_plane" {
  value = {
    webhook_url        = module.control_plane.webhook_url
    function_names     = module.control_plane.function_names
    webhook_secret_arn = module.control_plane.webhook_secret_parameter_arn
  }
}
"""


def _write_credentials(box: Sandbox, gh: GitHubEmulator, installation: int, secret: str) -> None:
    ssm = box.client("ssm")
    base = f"/{NAME}/github"
    for key, value, kind in (
        ("app-id", gh.app_id, "String"),
        ("installation-id", str(installation), "String"),
        ("private-key", gh.app_private_key_pem, "SecureString"),
        ("token", gh.pat, "SecureString"),
        ("webhook-secret", secret, "SecureString"),
    ):
        ssm.put_parameter(Name=f"{base}/{key}", Value=value, Type=kind, Overwrite=True)


def build_package_with_cli(out: Path) -> Path:
    """The zip as `runnerfleet registrar package` builds it (with the locked dependencies)."""
    proc = subprocess.run(
        [sys.executable, "-m", "runnerfleet.cli", "registrar", "package", "--with-dependencies",
         "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"registrar package failed: {proc.stdout}{proc.stderr}")
    return Path(json.loads(proc.stdout)["path"])


def runner_group(box: Sandbox, name: str = NAME, pool: str = POOL) -> str:
    """A runner pool's Auto Scaling group as infra/modules/runner-fleet tags it (the control
    plane finds groups and hosts by these tags only)."""
    ec2, asg = box.client("ec2"), box.client("autoscaling")
    group = f"{name}-{pool}"
    tags = {FLEET_TAG: name, POOL_TAG: pool, ROLE_TAG: RUNNER_ROLE}
    lt = ec2.create_launch_template(
        LaunchTemplateName=group,
        LaunchTemplateData={
            "ImageId": box.default_ami(), "InstanceType": "t3.medium",
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [
                {"Key": k, "Value": v} for k, v in tags.items()]}],
        },
    )["LaunchTemplate"]  # fmt: skip
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=0, MaxSize=3, DesiredCapacity=0, AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True, "ResourceId": group,
               "ResourceType": "auto-scaling-group"} for k, v in tags.items()],
    )  # fmt: skip
    return group


def deploy(tmp: Path, webhook_secret: str) -> Deployed:
    """See the module docstring."""
    home = tmp / "sandbox"
    box = Sandbox(home, region=REGION)
    box.start(with_github=False)
    gh = GitHubEmulator(webhook_secret=webhook_secret)
    try:
        gh.start()
        installation = gh.add_installation(OWNER)
        # The documented order: credentials first, then the first plan and apply.
        _write_credentials(box, gh, installation, webhook_secret)
        runner_group(box)
        package = build_package_with_cli(tmp / "build" / "control-plane.zip")
        root = tmp / "root"
        shutil.copytree(
            MODULE, root / "control-plane", ignore=shutil.ignore_patterns(".terraform*", "tests")
        )
        (root / "main.tf").write_text(ROOT_TF)
        (root / "sandbox_override.tf").write_text(box.provider_override())
        (root / "terraform.tfvars.json").write_text(
            json.dumps({"name": NAME, "package_path": str(package), "github_owner": OWNER})
        )
        tf = Terraform(
            root,
            cli_config=write_cli_config(tmp / "tf.rc", plugin_cache=tmp / "plugins"),
            env=box.aws_env(),
            log_dir=tmp / "tf-logs",
        )
        tf.init()
        first = tf.plan(root / "first.tfplan")
        tf.apply(first.plan_file)
        second = tf.plan(root / "second.tfplan")
        replan = tf.show_json(second.plan_file)  # all of it, no-ops too (plan() skips those)
        state_text = tf.run(["state", "pull"], capture=True).stdout
        task = tmp / "task"
        task.mkdir()
        with zipfile.ZipFile(package) as zf:
            zf.extractall(task)
        python = pyruntime.venv("3.12", list(RUNTIME_SDK))
        return Deployed(
            home=home, sandbox=box, github=gh, installation_id=installation,
            secrets={
                "private-key": gh.app_private_key_pem, "token": gh.pat,
                "webhook-secret": webhook_secret,
            },
            plan_json=first.json, plan_text=json.dumps(first.json), replan_json=replan,
            replan_text=json.dumps(replan), state_text=state_text, package=package,
            task=task, python=python, terraform=tf, functions=_functions(json.loads(state_text)),
        )  # fmt: skip
    except BaseException:
        gh.stop()
        box.stop()
        raise


def _functions(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{role: {function_name, handler, environment, role_arn}} from the raw state."""
    out: dict[str, dict[str, Any]] = {}
    for res in state.get("resources", []):
        if res.get("type") != "aws_lambda_function" or res.get("mode") != "managed":
            continue
        for inst in res.get("instances", []):
            attrs = inst["attributes"]
            env = (attrs.get("environment") or [{}])[0].get("variables") or {}
            role = str(attrs["function_name"]).removeprefix(f"{NAME}-")
            out[role] = {
                "function_name": attrs["function_name"],
                "handler": attrs["handler"],
                "environment": {str(k): str(v) for k, v in env.items()},
                "role_arn": attrs["role"],
                "address": f"{res.get('module', '')}.{res['type']}.{res['name']}",
            }
    return out


def shutdown(deployed: Deployed) -> None:
    deployed.github.stop()
    deployed.sandbox.stop()
