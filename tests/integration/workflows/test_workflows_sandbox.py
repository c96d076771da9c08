"""deploy.yml, drift.yml and destroy.yml run against the sandbox from a fresh repository.

The repository holds only `runnerfleet.toml` and `.github/workflows/` (no source tree, no
infra/), as a team's infra repository would. The CLI is installed the way the workflows
install it: their own `pip install "${RF_CLI_SPEC}"` step, which resolves the pinned
`runnerfleet==<version>` to a wheel built from this checkout (for that step only,
PIP_FIND_LINKS + PIP_NO_INDEX stand in for PyPI, and PIP_IGNORE_INSTALLED + PIP_NO_DEPS
because this machine's Python already has the source tree installed and the dependencies).
The wheel must carry the Terraform modules, or nothing after the install works.

Every `run:` step of each job runs in order (tests/integration/workflows/wfrun.py: GitHub's
runner variables and files stubbed, `${{ }}` evaluated), with one rewrite: `--aws` becomes
`--sandbox` (the sandbox target). `uses:` steps cannot run here; each stand-in below says
which action it replaces and what it does instead:

- actions/checkout: the workspace already is the repository (a no-op);
- actions/setup-python: a virtual environment of this machine's Python (3.11; the
  workflows ask for 3.12), first on PATH;
- hashicorp/setup-terraform: the terraform on PATH, checked to be the workflows'
  TERRAFORM_VERSION;
- aws-actions/configure-aws-credentials: nothing, since the sandbox target signs with the
  sandbox's own key. What the OIDC roles may do is tested separately below: the github-oidc
  example is applied in the sandbox for this fleet, the plan role is assumed as the action
  assumes it (an unsigned AssumeRoleWithWebIdentity with a GitHub-shaped OIDC token; the
  trust policies refuse the apply role to a pull request and the plan role to another
  repository), and Terraform plans the fleet with its credentials alone under the
  sandbox's IAM enforcement (runnerfleet.strictaws), which refuses it the fleet's secrets;
- actions/upload-artifact / download-artifact: files copied to and from a folder of
  artifacts by name;
- actions/github-script: the PR comment and the drift issue are not posted (GitHub API
  calls); the apply job's "Find the reviewed plan" step is answered with the pull request
  and run this test made (what listPullRequestsAssociatedWithCommit and listWorkflowRuns
  would return).

The story: bootstrap from a workstation (`runnerfleet up`), a pull request changes the log
retention (plan job: exit code 3, the reviewed plan as an artifact), merge (apply job:
downloads it, re-plans, same digest, applies; the log groups change), a pull request whose
plan changed after review (apply refuses, nothing applied), the drift check (clean, then
drift made behind Terraform's back fails the run), destroy (a wrong confirmation refuses;
the fleet name destroys).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import tarfile
import time
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.config
import botocore.exceptions
import pytest
import wfrun

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]

REPO = Path(__file__).resolve().parents[3]
WORKFLOWS = REPO / ".github" / "workflows"
FLEET = "acme-ci"
GH_REPO = "acme/infra"
PR_HEAD = "a" * 40
MERGE_SHA = "b" * 40


# ---- the fresh repository and the pinned CLI ---------------------------------------------


def _build_wheel(out: Path) -> Path:
    """A wheel of this checkout's last commit (`git archive HEAD`), as a release is built:
    uncommitted work in the shared tree does not leak into the CLI under test."""
    tree = out / "tree"
    tree.mkdir(parents=True)
    tar_path = out / "tree.tar"
    subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(tar_path), "HEAD"],
        cwd=REPO, check=True, timeout=120,
    )  # fmt: skip
    with tarfile.open(tar_path) as tar:
        tar.extractall(tree, filter="tar")
    dist = out / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(tree)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, (
        "building the runnerfleet wheel failed (pip fetches setuptools from PyPI for the build):\n"
        + proc.stdout
        + proc.stderr
    )
    (wheel,) = dist.glob("runnerfleet-*.whl")
    return wheel


class Repo:
    """The fresh repository, its runner environment, the sandbox it deploys to."""

    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "infra-repo"
        self.artifacts = root / "artifacts"
        self.venv = root / "venv"
        self.dir.mkdir()
        self.artifacts.mkdir()
        shutil.copytree(WORKFLOWS, self.dir / ".github" / "workflows")
        wheel = _build_wheel(root / "build")
        venv.EnvBuilder(system_site_packages=True, with_pip=False).create(self.venv)
        # pip, for the workflows' install step only: the pinned version from the local wheel
        self.install_env = {
            "PIP_FIND_LINKS": str(wheel.parent),
            "PIP_NO_INDEX": "1",
            "PIP_IGNORE_INSTALLED": "1",
            "PIP_NO_DEPS": "1",
        }
        env = wfrun.environ_without(("AWS_", "RUNNERFLEET_", "TF_CLI_CONFIG_FILE"))
        env.update(
            PATH=f"{self.venv / 'bin'}:{env.get('PATH', '')}",
            VIRTUAL_ENV=str(self.venv),
            AWS_CONFIG_FILE=str(root / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(root / "no-aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            # The boot model's simulated cloud-init (20 s by default) shortened: this test checks
            # commands and their results, not how long a host takes to boot.
            RUNNERFLEET_SANDBOX_BOOT_SECONDS="2",
            NO_COLOR="1",
            COLUMNS="200",
        )
        env.pop("PYTHONPATH", None)
        self.env = env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.venv / "bin" / "runnerfleet"), *args],
            cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=1200,
            input="y\n", check=False,
        )  # fmt: skip
        if check:
            assert proc.returncode == 0, (
                f"runnerfleet {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def set_retention(self, days: int) -> None:
        cfg = self.dir / "runnerfleet.toml"
        text = cfg.read_text(encoding="utf-8")
        text, n = re.subn(r"(?m)^log_retention_days = \d+", f"log_retention_days = {days}", text)
        assert n == 1, "runnerfleet init writes [monitoring] log_retention_days"
        cfg.write_text(text, encoding="utf-8")

    def clean_runner_files(self) -> None:
        """Each job gets a fresh runner: drop what an earlier job left in the workspace."""
        keep = {".github", "runnerfleet.toml", ".runnerfleet"}
        for entry in self.dir.iterdir():
            if entry.name not in keep:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    # ---- stand-ins for the actions (see the module docstring) ----------------------------
    def actions(self, *, reviewed: dict[str, str] | None = None) -> dict[str, wfrun.ActionFn]:
        def checkout(_w: dict[str, Any], _ws: Path, _e: dict[str, str]) -> dict[str, str]:
            """actions/checkout: the workspace already holds the repository."""
            return {}

        def setup_python(_w: dict[str, Any], _ws: Path, _e: dict[str, str]) -> dict[str, str]:
            """actions/setup-python: the test's virtual environment is first on PATH."""
            return {"python-version": f"{sys.version_info.major}.{sys.version_info.minor}"}

        def setup_terraform(w: dict[str, Any], _ws: Path, e: dict[str, str]) -> dict[str, str]:
            """hashicorp/setup-terraform: the terraform on PATH, of the pinned version."""
            out = subprocess.run(
                ["terraform", "version", "-json"], env=e, capture_output=True, text=True,
                timeout=60, check=True,
            ).stdout  # fmt: skip
            have = json.loads(out)["terraform_version"]
            if have != w["terraform_version"]:
                raise RuntimeError(f"terraform {have} on PATH, the workflow pins {w}")
            assert w.get("terraform_wrapper") == "false"
            return {}

        def aws_credentials(w: dict[str, Any], _ws: Path, _e: dict[str, str]) -> dict[str, str]:
            """aws-actions/configure-aws-credentials: nothing; the sandbox signs itself."""
            assert w["role-to-assume"] == "", "the role comes from a repository variable"
            return {}

        def upload(w: dict[str, Any], ws: Path, _e: dict[str, str]) -> dict[str, str]:
            """actions/upload-artifact: copy the files into artifacts/<name>/."""
            dest = self.artifacts / w["name"]
            dest.mkdir(parents=True, exist_ok=True)
            for rel in str(w["path"]).split():
                shutil.copy2(ws / rel, dest / Path(rel).name)
            return {}

        def download(w: dict[str, Any], ws: Path, _e: dict[str, str]) -> dict[str, str]:
            """actions/download-artifact: copy artifacts/<name>/ into the workspace (path)."""
            src = self.artifacts / w["name"]
            if not src.is_dir():
                raise RuntimeError(f"Artifact not found for name: {w['name']}")
            shutil.copytree(src, ws / w.get("path", "."), dirs_exist_ok=True)
            return {}

        def github_script(w: dict[str, Any], _ws: Path, _e: dict[str, str]) -> dict[str, str]:
            """actions/github-script: GitHub API calls are not made here; the apply job's
            lookup of the merged PR and its run answers with the PR this test made."""
            if "listPullRequestsAssociatedWithCommit" in w["script"]:
                if reviewed is None:
                    raise RuntimeError("no pull request was merged in this test step")
                return reviewed
            return {}

        fns = {
            "actions/checkout": checkout,
            "actions/setup-python": setup_python,
            "hashicorp/setup-terraform": setup_terraform,
            "aws-actions/configure-aws-credentials": aws_credentials,
            "actions/upload-artifact": upload,
            "actions/download-artifact": download,
            "actions/github-script": github_script,
        }
        assert set(fns) == set(STAND_INS)
        return fns

    def job(
        self,
        workflow: str,
        job: str,
        github: dict[str, Any],
        *,
        reviewed: dict[str, str] | None = None,
        inputs: dict[str, str] | None = None,
        needs: dict[str, dict[str, Any]] | None = None,
    ) -> wfrun.JobResult:
        self.clean_runner_files()

        def to_sandbox(script: str) -> tuple[str, list[str]]:
            n = len(re.findall(r"(?<=\s)--aws\b", script))
            return re.sub(r"(?<=\s)--aws\b", "--sandbox", script), [f"--aws -> --sandbox x{n}"]

        return wfrun.run_job(
            self.dir / ".github" / "workflows" / workflow,
            job,
            workspace=self.dir,
            github={"repository": GH_REPO, "token": "", "run_id": "100", **github},
            base_env=self.env,
            actions=self.actions(reviewed=reviewed),
            inputs=inputs,
            needs=needs,
            rewrite=to_sandbox,
            extra_env={"Install runnerfleet (pinned)": self.install_env},
        )

    def sandbox_client(self, service: str) -> Any:
        from runnerfleet.sandbox import Sandbox

        return Sandbox(self.dir / ".runnerfleet").client(service)


STAND_INS = (
    "actions/checkout",
    "actions/setup-python",
    "hashicorp/setup-terraform",
    "aws-actions/configure-aws-credentials",
    "actions/upload-artifact",
    "actions/download-artifact",
    "actions/github-script",
)
PR_EVENT = {
    "event_name": "pull_request",
    "ref": "refs/pull/7/merge",
    "sha": "c" * 40,
    "event": {
        "pull_request": {"number": 7, "head": {"sha": PR_HEAD, "repo": {"full_name": GH_REPO}}}
    },
}
PUSH_EVENT = {"event_name": "push", "ref": "refs/heads/main", "sha": MERGE_SHA, "event": {}}
REVIEWED = {"head": PR_HEAD, "run_id": "99", "source": "pull request #7 (run 99)"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    r = Repo(tmp_path_factory.mktemp("workflows"))
    try:
        yield r
    finally:
        if (r.dir / ".runnerfleet").exists():
            r.cli("down", "--sandbox", "--yes", check=False)
            from runnerfleet.sandbox import Sandbox

            Sandbox(r.dir / ".runnerfleet").stop()


def _retention(r: Repo) -> set[int]:
    groups = r.sandbox_client("logs").describe_log_groups(logGroupNamePrefix=f"/{FLEET}/")
    return {g.get("retentionInDays", 0) for g in groups["logGroups"]}


# ---- the story, in order -----------------------------------------------------------------


def test_1_the_pinned_cli_installs_with_its_modules_and_bootstraps(repo: Repo) -> None:
    res = repo.job("deploy.yml", "plan", PR_EVENT)  # only to run its install step first
    install = res.step("Install runnerfleet (pinned)")
    assert install.kind == "run" and install.returncode == 0, res.log()
    assert "Successfully installed runnerfleet-" in install.output, install.output
    where = subprocess.run(
        [str(repo.venv / "bin" / "python"), "-c",
         "import runnerfleet.workspace as w; print(w.infra_source())"],
        env=repo.env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(str(repo.venv)), f"the CLI must run from the wheel, not {where}"
    assert (Path(where) / "stacks" / "ec2-runner" / "network.tf").is_file()
    # the workstation's first-time bootstrap (docs/operations.md)
    repo.cli("init", "--name", FLEET, "--owner", "acme")
    repo.cli("up", "--sandbox", "--yes")
    assert _retention(repo) == {30}


def test_2_oidc_example_applies_for_this_fleet_and_the_plan_role_plans_it(repo: Repo) -> None:
    from runnerfleet.sandbox import SANDBOX_ACCOUNT_ID, Sandbox, provider_override
    from runnerfleet.terraform import discover_mirror, write_cli_config

    box = Sandbox(repo.dir / ".runnerfleet")
    work = repo.root / "oidc"
    shutil.copytree(
        REPO / "infra" / "modules" / "github-oidc", work / "github-oidc",
        ignore=shutil.ignore_patterns(".terraform*", "tests"),
    )  # fmt: skip
    example = work / "github-oidc" / "examples" / "basic"
    (example / "zz_sandbox_override.tf").write_text(provider_override(box.endpoint, "us-east-1"))
    # the override's default_tags read var.tags, as the root stack has it
    (example / "sandbox_tags.tf").write_text(
        'variable "tags" {\n  type    = map(string)\n  default = {}\n}\n'
    )
    cli_config = write_cli_config(
        repo.root / "tf.rc", mirror=discover_mirror(), plugin_cache=repo.root / "tfcache"
    )
    env = {**repo.env, **box.aws_env(), "TF_CLI_CONFIG_FILE": str(cli_config), "TF_INPUT": "0"}
    # the command docs/operations.md shows, with this fleet's names for its placeholders
    tf_vars = _documented_oidc_apply_vars(
        {
            "myfleet": FLEET,
            "acme/infra": GH_REPO,
            "123456789012": SANDBOX_ACCOUNT_ID,
        }
    )
    assert {v.split("=", 1)[0] for v in tf_vars[1::2]} == {
        "name", "lock_table", "github_repository", "state_bucket",
    }  # fmt: skip
    assert f"name={FLEET}" in tf_vars and f"lock_table={FLEET}-tflock" in tf_vars
    for args in (["init"], ["apply", "-auto-approve", *tf_vars]):
        proc = subprocess.run(
            ["terraform", *args, "-no-color"], cwd=example, env=env, capture_output=True,
            text=True, timeout=600, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = json.loads(
        subprocess.run(
            ["terraform", "output", "-json"], cwd=example, env=env, capture_output=True,
            text=True, timeout=120, check=True,
        ).stdout
    )  # fmt: skip
    plan_role = outputs["plan_role_arn"]["value"]
    assert plan_role.endswith(f":role/{FLEET}-github-plan")
    assert outputs["apply_role_arn"]["value"].endswith(f":role/{FLEET}-github-apply")

    # The plan role, assumed as deploy.yml's plan job assumes it: an unsigned
    # AssumeRoleWithWebIdentity with the pull request's OIDC token (no AWS key at all).
    apply_role = outputs["apply_role_arn"]["value"]
    pr_token = _github_oidc_token(f"repo:{GH_REPO}:pull_request")
    creds = _assume_with_web_identity(box.endpoint, plan_role, "runnerfleet-plan-pr-7", pr_token)
    # The trust policies are what decide: a pull request cannot take the apply role, and
    # another repository's pull request cannot take the plan role.
    refused = {
        "apply role, pull request token": (apply_role, pr_token),
        "plan role, other repository": (
            plan_role,
            _github_oidc_token("repo:acme/other:pull_request"),
        ),
    }
    for what, (arn, tok) in refused.items():
        code = _web_identity_refusal(box.endpoint, arn, tok)
        assert code == "AccessDenied", f"{what}: {code}"
    role_kw: dict[str, Any] = {
        "endpoint_url": box.endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    assert (
        boto3.client("sts", **role_kw)
        .get_caller_identity()["Arn"]
        .startswith(plan_role.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/"))
    )
    # Refresh reads no secret: the plan role's own policy denies the fleet's secret paths,
    # whatever managed policy is attached. The sandbox evaluates IAM on each parameter's ARN
    # (runnerfleet.strictaws), so a read with the role's credentials is refused; the deny
    # statement itself is checked too, for this fleet's names.
    admin_ssm = box.client("ssm")
    secret_names = [
        p["Name"]
        for p in admin_ssm.get_parameters_by_path(Path=f"/{FLEET}/github/", Recursive=True)[
            "Parameters"
        ]
    ]
    assert f"/{FLEET}/github/webhook-secret" in secret_names, secret_names
    role_ssm = boto3.client("ssm", **role_kw)
    for name in secret_names:
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            role_ssm.get_parameter(Name=name, WithDecryption=True)
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException", name
    iam = box.client("iam")
    doc = iam.get_role_policy(RoleName=f"{FLEET}-github-plan", PolicyName=f"{FLEET}-github-plan")
    deny = next(st for st in doc["PolicyDocument"]["Statement"] if st["Effect"] == "Deny")
    assert {"ssm:GetParameter", "secretsmanager:GetSecretValue"} <= set(deny["Action"])
    assert f"arn:aws:ssm:*:*:parameter/{FLEET}/github/*" in deny["Resource"]
    assert f"arn:aws:ssm:*:*:parameter/{FLEET}/runners/*" in deny["Resource"]

    # terraform plan of the fleet with the plan role: a copy of the sandbox's work folder,
    # provider and backend signing with the role's credentials instead of the sandbox key.
    src = repo.dir / ".runnerfleet" / "work" / "sandbox"
    stack_rel = Path("infra") / "stacks" / "ec2-runner"
    copy = repo.root / "plan-as-role"
    shutil.copytree(src, copy, symlinks=True, ignore=shutil.ignore_patterns("*.tfplan"))
    stack = copy / stack_rel
    for override in stack.glob("*override*.tf"):
        text = override.read_text()
        if "access_key" in text:
            text = re.sub(
                r'access_key\s*=\s*"testing"', f'access_key = "{creds["AccessKeyId"]}"', text
            )
            text = re.sub(
                r'secret_key\s*=\s*"testing"',
                f'secret_key = "{creds["SecretAccessKey"]}"\n  token = "{creds["SessionToken"]}"',
                text,
            )
            override.write_text(text)
    backend = stack / "backend.tfbackend"
    text = backend.read_text()
    text = re.sub(r'access_key\s*=\s*"testing"', f'access_key = "{creds["AccessKeyId"]}"', text)
    text = re.sub(
        r'secret_key\s*=\s*"testing"',
        f'secret_key = "{creds["SecretAccessKey"]}"\ntoken = "{creds["SessionToken"]}"',
        text,
    )
    backend.write_text(text)
    role_env = {**env, "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"]}  # fmt: skip
    # the variables of the CLI's last run (one file per run; absolute paths inside)
    var_files = sorted((copy / "runs").glob("*/runnerfleet.tfvars.json"))
    assert var_files, f"no run variables under {copy / 'runs'}"
    for args in (
        ["init", "-reconfigure", "-backend-config=backend.tfbackend"],
        [
            "plan",
            "-lock=true",
            "-detailed-exitcode",
            "-out=role.tfplan",
            f"-var-file={var_files[-1]}",
        ],
    ):
        proc = subprocess.run(
            ["terraform", *args, "-input=false", "-no-color"], cwd=stack, env=role_env,
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert proc.returncode in (0, 2), f"terraform {args[0]} as the plan role:\n" + (
            proc.stdout + proc.stderr
        )


def _documented_oidc_apply_vars(names: dict[str, str]) -> list[str]:
    """The `-var` arguments of docs/operations.md's `terraform apply` of the github-oidc
    example, its example names replaced by `names` (every one must occur)."""
    doc = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = doc.split("## Creating the OIDC roles", 1)[1].split("\n## ", 1)[0]
    (line,) = [ln for ln in section.splitlines() if ln.startswith("$ terraform apply ")]
    for example, value in names.items():
        assert example in line, f"{example!r} not in the documented command: {line}"
        line = line.replace(example, value)
    args = line.split()[3:]
    assert args[0::2] == ["-var"] * (len(args) // 2) and len(args) % 2 == 0, line
    return args


def _github_oidc_token(subject: str) -> str:
    """A JWT shaped as GitHub Actions' OIDC token for `subject` (issuer, audience the
    workflows request through configure-aws-credentials, expiry). Unsigned ("c2ln"): the
    sandbox has no issuer keys and checks everything but the signature (strictaws)."""

    def b64(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "sts.amazonaws.com",
        "sub": subject,
        "repository": GH_REPO,
        "exp": int(time.time()) + 3600,
    }
    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2ln"


def _unsigned_sts(endpoint: str) -> Any:
    return boto3.client(
        "sts", endpoint_url=endpoint, region_name="us-east-1",
        config=botocore.config.Config(signature_version=botocore.UNSIGNED),
    )  # fmt: skip


def _assume_with_web_identity(
    endpoint: str, role_arn: str, session: str, token: str
) -> dict[str, str]:
    """sts:AssumeRoleWithWebIdentity against the sandbox, unsigned as AWS takes it and as
    configure-aws-credentials sends it from a GitHub job: the token is the only credential."""
    answer = _unsigned_sts(endpoint).assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName=session, WebIdentityToken=token
    )
    assert answer["SubjectFromWebIdentityToken"] == f"repo:{GH_REPO}:pull_request"
    creds = answer["Credentials"]
    return {k: str(creds[k]) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}


def _web_identity_refusal(endpoint: str, role_arn: str, token: str) -> str:
    """The error code of an unsigned AssumeRoleWithWebIdentity ("" when it was granted)."""
    try:
        _unsigned_sts(endpoint).assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="refused", WebIdentityToken=token
        )
    except botocore.exceptions.ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return ""


def test_3_pull_request_plan_then_merge_applies_the_reviewed_plan(repo: Repo) -> None:
    repo.set_retention(60)
    plan = repo.job("deploy.yml", "plan", PR_EVENT)
    assert plan.ok, plan.log()
    run_step = plan.step("runnerfleet plan")
    assert run_step.outputs["exit_code"] == "3", run_step.output
    assert run_step.rewrites == ["--aws -> --sandbox x1"]
    assert "to change" in plan.summary and "Plan digest" in plan.summary
    art = repo.artifacts / f"runnerfleet-plan-{PR_HEAD}"
    assert sorted(p.name for p in art.iterdir()) == ["plan-summary.md", "plan.json"]
    digest = json.loads((art / "plan.json").read_text())["digest"]

    apply = repo.job("deploy.yml", "apply", PUSH_EVENT, reviewed=REVIEWED)
    assert apply.ok, apply.log()
    assert apply.step("The reviewed plan digest").outputs["digest"] == digest
    assert apply.step("runnerfleet plan").outputs["digest"] == digest
    assert apply.step("runnerfleet apply (the reviewed plan)").returncode == 0
    assert _retention(repo) == {60}


def test_4_apply_refuses_a_plan_that_changed_after_review(repo: Repo) -> None:
    repo.set_retention(90)
    plan = repo.job("deploy.yml", "plan", PR_EVENT)
    assert plan.ok, plan.log()
    repo.set_retention(120)  # the merged config is not what was reviewed
    apply = repo.job("deploy.yml", "apply", PUSH_EVENT, reviewed=REVIEWED)
    compare = apply.step("Compare with the reviewed plan")
    assert compare.returncode == 1 and "differs from the reviewed plan" in compare.output
    assert apply.step("runnerfleet apply (the reviewed plan)").kind == "skipped"
    assert _retention(repo) == {60}, "nothing may be applied"
    repo.set_retention(60)


def test_5_drift_check_is_clean_then_catches_a_change_behind_terraforms_back(repo: Repo) -> None:
    schedule = {"event_name": "schedule", "ref": "refs/heads/main", "sha": MERGE_SHA, "event": {}}
    clean = repo.job("drift.yml", "detect", schedule)
    assert clean.ok, clean.log()
    assert clean.outputs["exit_code"] == "0" and "No drift" in clean.summary
    logs = repo.sandbox_client("logs")
    group = logs.describe_log_groups(logGroupNamePrefix=f"/{FLEET}/")["logGroups"][0]
    logs.put_retention_policy(logGroupName=group["logGroupName"], retentionInDays=7)
    drift = repo.job("drift.yml", "detect", schedule)
    assert drift.outputs["exit_code"] == "3", drift.log()
    fail = drift.step("Fail on drift or error")
    assert fail.returncode == 1 and "drift detected" in fail.output
    assert "**Drift**" in drift.summary and "to change" in drift.summary
    assert (repo.artifacts / "drift-summary" / "drift-summary.md").is_file()


def test_6_destroy_needs_the_fleet_name_then_destroys(repo: Repo) -> None:
    dispatch = {"event_name": "workflow_dispatch", "ref": "refs/heads/main", "sha": MERGE_SHA}
    wrong = repo.job("destroy.yml", "confirm", dispatch, inputs={"confirm": "runnerfleet"})
    step = wrong.step("Confirmation must equal the fleet name")
    assert step.returncode == 1 and f"({FLEET})" in step.output
    ok = repo.job("destroy.yml", "confirm", dispatch, inputs={"confirm": FLEET})
    assert ok.ok and ok.outputs["fleet"] == FLEET, ok.log()
    destroy = repo.job(
        "destroy.yml", "destroy", dispatch, needs={"confirm": {"outputs": ok.outputs}}
    )
    assert destroy.ok, destroy.log()
    assert f"Fleet `{FLEET}` destroyed" in destroy.summary
    assert not (repo.dir / ".runnerfleet").exists() or not _sandbox_running(repo)


def _sandbox_running(r: Repo) -> bool:
    from runnerfleet.sandbox import Sandbox

    return Sandbox(r.dir / ".runnerfleet").running()


def test_every_action_of_the_three_workflows_has_a_stand_in() -> None:
    used = set()
    for name in ("deploy.yml", "drift.yml", "destroy.yml"):
        for job in wfrun.load(WORKFLOWS / name)["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step:
                    used.add(str(step["uses"]).split("@", 1)[0])
    assert used == set(STAND_INS), used ^ set(STAND_INS)
