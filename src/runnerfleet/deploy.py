"""Orchestrates `up`, `plan`, `apply`, `down` and `status` for one fleet on one target.

Library code: it reports progress through a callback and returns results; the CLI renders
them. The order of `up` is: state backend bootstrap, workspace sync, terraform init (only when
the backend settings changed), plan, confirmation, apply of exactly that plan, outputs, and in
the sandbox the registrar and simulated hosts so that runners come online in the GitHub
emulator.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions

from runnerfleet import adopt as adopt_mod
from runnerfleet.config import FleetConfig, to_tfvars
from runnerfleet.oplock import new_run_id
from runnerfleet.redaction import redact
from runnerfleet.target import Target
from runnerfleet.terraform import (
    PlanResult,
    Terraform,
    TerraformError,
    kill_stale_processes,
    write_cli_config,
)
from runnerfleet.vocabulary import is_fleet_runner
from runnerfleet.workspace import Workspace, sandbox_module_overrides

Reporter = Callable[[str], None]
Confirm = Callable[[PlanResult], bool]
KEEP_RUNS = 5  # run folders (plan, var file, terraform logs) kept for inspection


def _noop(_: str) -> None:
    return None


@contextlib.contextmanager
def _child_output_to(path: Path) -> Iterator[Reporter]:
    """Point file descriptors 1 and 2 (inherited by child processes) at `path` for a while.

    Long-lived children (the sandbox's stand-in runners) must not hold this command's
    stdout/stderr open: a caller reading them would wait for ever. Progress lines still reach
    the real stderr through the reporter this yields.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
    real_err = os.fdopen(os.dup(saved_err), "w", encoding="utf-8", errors="replace")

    def to_real_stderr(line: str) -> None:
        real_err.write(redact(line) + "\n")
        real_err.flush()

    try:
        yield to_real_stderr
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        real_err.close()


@dataclass
class UpResult:
    changed: bool
    summary: dict[str, int]
    outputs: dict[str, Any]
    backend_changes: list[str] = field(default_factory=list)
    runners: list[dict[str, Any]] = field(default_factory=list)
    applied: bool = False


class Deployment:
    """One fleet (config) on one target (AWS or sandbox)."""

    def __init__(self, cfg: FleetConfig, target: Target, report: Reporter = _noop):
        self.cfg = cfg
        self.target = target
        self.report = report
        self.ws = Workspace(target.workdir)
        self._tf: Terraform | None = None
        self.run_id = new_run_id()
        self._stale_checked = False
        self._imports: list[adopt_mod.Orphan] = []
        self.adopted: list[adopt_mod.Orphan] = []
        self.removed_parameters: list[str] = []

    # ---- this run's own files ------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        """This run's folder: its plan, its variables and terraform's logs, nobody else's."""
        return self.target.workdir / "runs" / self.run_id

    @property
    def var_file(self) -> Path:
        return self.run_dir / "runnerfleet.tfvars.json"

    @property
    def apply_marker(self) -> Path:
        """Present while an apply runs: left behind, it says the last apply was killed."""
        return self.target.workdir / "apply-in-progress.json"

    @property
    def pid_file(self) -> Path:
        """Process group of the terraform command running now (read by the next run)."""
        return self.target.workdir / "terraform.pid"

    def prune_runs(self, keep: int = KEEP_RUNS) -> None:
        runs = self.target.workdir / "runs"
        if not runs.is_dir():
            return
        old = sorted(p for p in runs.iterdir() if p.is_dir() and p.name != self.run_id)
        import shutil

        for p in old[: max(0, len(old) - (keep - 1))]:
            shutil.rmtree(p, ignore_errors=True)

    def stop_stale_terraform(self) -> list[int]:
        """Kill terraform/provider processes left by an earlier run that was killed."""
        if self._stale_checked:
            return []
        self._stale_checked = True
        return kill_stale_processes(self.pid_file, self.report)

    # ---- preparation ---------------------------------------------------------------------
    def tfvars(self) -> dict[str, Any]:
        tv = to_tfvars(self.cfg)
        if self.target.sandbox is not None and not tv.get("ami_id"):
            tv["ami_id"] = self.target.sandbox.default_ami()
        if self.cfg.control_plane.enabled:
            tv["control_plane_package"] = str(self.control_plane_package())
        # The hosts' agent artifact (host area: runnerfleet.hostartifact), named in user data.
        hostartifact = importlib.import_module("runnerfleet.hostartifact")
        tv.update(hostartifact.ensure_artifact(self.target.home / "build").tfvars())
        return tv

    def control_plane_package(self) -> Path:
        """Build (or reuse) the control plane's Lambda zip that the stack deploys.

        The zip carries the pinned dependencies everywhere: the sandbox runs the functions
        from it as Lambda does (runnerfleet.sandboxrt), with only the zip and boto3 importable.
        """
        packaging = importlib.import_module("runnerfleet.controlplane.packaging")
        out = self.target.home / "build" / "control-plane.zip"
        pkg = packaging.ensure_package(out, with_dependencies=True)
        path: Path = pkg.path
        return path

    def bootstrap_backend(self, adopt: bool = False) -> list[str]:
        backend = importlib.import_module("runnerfleet.backend")
        locking = self.cfg.backend.locking
        changes = backend.bootstrap(
            self.target.client("s3"),
            self.target.client("dynamodb"),
            bucket=self.target.bucket(),
            table=self.cfg.lock_table() if locking in ("both", "dynamodb") else None,
            region=self.cfg.aws.region,
            kms_key_id=self.cfg.backend.kms_key_id,
            adopt=adopt,
            expected_owner=None if self.target.is_sandbox else self.target.account_id(),
            tags={**self.cfg.base_tags(), "runnerfleet:role": "deploy"},
        )
        return [str(c) for c in changes]

    def terraform(self) -> Terraform:
        if self._tf is None:
            cli_config = write_cli_config(
                self.target.home / "terraform.rc",
                plugin_cache=self.target.home / "plugin-cache",
            )
            self._tf = Terraform(
                self.ws.stack_dir,
                cli_config=cli_config,
                env=self.target.terraform_env(),
                on_line=self.report,
                log_dir=self.run_dir,
                pid_file=self.pid_file,
            )
        return self._tf

    def prepare(self) -> Terraform:
        """Sync sources, write inputs and overrides, init when needed."""
        self.stop_stale_terraform()
        self.prune_runs()
        self.ws.sync()
        if self.target.sandbox is not None:
            self.ws.write_overrides(
                self.target.sandbox.provider_override(), sandbox_module_overrides()
            )
        self.ws.write_inputs(self.tfvars(), self.target.backend_settings(), self.var_file)
        if self._imports:
            (self.ws.stack_dir / adopt_mod.IMPORTS_FILE).write_text(
                adopt_mod.import_blocks(self._imports)
            )
        tf = self.terraform()
        if self.ws.needs_init():
            self.report("terraform init")
            tf.init(self.ws.backend_file)
            self.ws.mark_initialized()
        return tf

    # ---- operations ----------------------------------------------------------------------
    def plan(
        self, plan_file: Path | None = None, destroy: bool = False, targets: Sequence[str] = ()
    ) -> PlanResult:
        tf = self.prepare()
        plan_file = plan_file or (self.run_dir / ("destroy.tfplan" if destroy else "up.tfplan"))
        self.report("terraform plan" + (f" (-target: {len(targets)})" if targets else ""))
        return tf.plan(
            plan_file.resolve(), var_files=[self.var_file], destroy=destroy, targets=targets
        )

    def apply(self, plan: PlanResult) -> dict[str, Any]:
        tf = self.terraform()
        self.report("terraform apply")
        self.apply_marker.parent.mkdir(parents=True, exist_ok=True)
        self.apply_marker.write_text(f'{{"run": "{self.run_id}", "pid": {os.getpid()}}}\n')
        try:
            tf.apply(plan.plan_file)
        finally:  # not reached when this process is SIGKILLed: the next up sees the marker
            self.apply_marker.unlink(missing_ok=True)
        return tf.output()

    def adopt_orphans(
        self, plan: PlanResult, passes: int = 3, why: str = "importing"
    ) -> PlanResult:
        """Import what the plan would create but AWS already holds (a killed apply's work).

        Returns the plan to apply: a new one with Terraform import blocks when something was
        found, else `plan` itself. Imports make more ids known (a route's table, a rule's
        group), so the search repeats on the new plan, up to `passes` times. When the import
        plan fails, the error carries the exact `terraform import` command per resource.
        """
        self.adopted = []
        for _ in range(passes):
            known = {o.address for o in self._imports}
            orphans, errors = adopt_mod.find_orphans(plan.json, self.target.client)
            orphans = [o for o in orphans if o.address not in known]
            for err in errors:
                self.report(f"could not check for an existing resource: {err}")
            if not orphans:
                break
            for o in orphans:
                self.report(f"found {o.address} in AWS but not in the state ({o.import_id}): {why}")
            self._imports += orphans
            try:
                plan = self.plan()
            except TerraformError as exc:
                steps = adopt_mod.manual_imports(
                    self._imports, str(self.ws.stack_dir), str(self.var_file)
                )
                raise TerraformError(
                    "resources exist in AWS but not in the state, and importing them failed; "
                    f"import them by hand, then run up again:\n{steps}",
                    exc.output,
                    exc.returncode,
                ) from exc
            self.adopted += orphans
        return plan

    def up(self, confirm: Confirm | None = None, *, adopt: bool = False) -> UpResult:
        self.report(f"target: {self.target.label}")
        backend_changes = self.bootstrap_backend(adopt=adopt)
        for change in backend_changes:
            self.report(f"backend: {change}")
        plan = self.plan()
        if plan.has_changes and self.apply_marker.exists():
            self.report("the last apply did not finish (killed?): looking for its resources")
            plan = self.adopt_orphans(plan)
        result = UpResult(
            changed=plan.has_changes,
            summary=plan.summary(),
            outputs={},
            backend_changes=backend_changes,
        )
        if plan.has_changes:
            if confirm is not None and not confirm(plan):
                result.outputs = self.terraform().output()
                return result
            try:
                result.outputs = self.apply(plan)
            except TerraformError as exc:
                if not adopt_mod.failed_because_it_exists(exc.output):
                    raise
                self.report("AWS already holds resources this plan creates: importing them")
                retry = self.adopt_orphans(self.plan())
                if not self.adopted:
                    raise
                result.outputs = self.apply(retry)
            result.applied = True
        else:
            result.outputs = self.terraform().output()
        if self.target.sandbox is not None:
            self.bring_runners_online()
            result.runners = self.github_runners()
        return result

    def bring_runners_online(self) -> None:
        """Sandbox: hand the applied stack to the sandbox runtime (runnerfleet.sandboxrt),
        which runs the deployed functions and boots a simulated host per running instance."""
        hook = importlib.import_module("runnerfleet.sandboxrt.deployhook")
        # The runtime may start long-lived processes: their output goes to a log file, never
        # to this command's stdout (which may carry --json output).
        log = self.target.home / "simulated-hosts.log"
        with _child_output_to(log) as report:
            hook.after_apply(self.cfg, self.target, self.terraform(), report)

    def deregister_runners(self) -> int:
        """Remove the fleet's runners from GitHub before instances go (sandbox: the emulator).

        On AWS the GitHub credentials are the control plane's (SSM `/<name>/github/*`); when
        they cannot be read, the runners are left for GitHub to expire and that is reported.
        """
        if self.target.sandbox is not None:
            sim = importlib.import_module("runnerfleet.agent.simulate")
            removed: int = sim.sandbox_deregister(self.cfg, self.target, self.report)
            return removed
        from runnerfleet.controlplane.local import plane_for
        from runnerfleet.github.errors import GitHubError

        try:
            gh = plane_for(self.cfg, self.target).github
        except Exception as exc:  # any failure here must not block the destroy
            self.report(f"runners not deregistered (no GitHub credentials readable: {exc})")
            return 0
        owner, repo = self.cfg.github.owner, self.cfg.github.repository
        count = 0
        try:
            for runner in gh.list_runners(owner, repo):
                if is_fleet_runner(self.cfg.name, runner.name):
                    gh.delete_runner(owner, repo, runner.id)
                    count += 1
        except GitHubError as exc:
            self.report(f"deregistration stopped after {count} runner(s): {exc}")
        finally:
            gh.close()
        self.report(f"removed {count} runner(s) from GitHub")
        return count

    def unprotect_for_sandbox_destroy(self) -> int:
        """Sandbox only: lift scale-in protection from the fleet's ASG instances.

        moto leaves protected instances running when it deletes their group (AWS terminates
        them: the module sets force_delete), and the control plane protects busy hosts.
        """
        asg = self.target.client("autoscaling")
        count = 0
        for page in asg.get_paginator("describe_auto_scaling_groups").paginate():
            for group in page["AutoScalingGroups"]:
                tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
                if tags.get("runnerfleet:fleet") != self.cfg.name:
                    continue
                ids = [i["InstanceId"] for i in group["Instances"] if i["ProtectedFromScaleIn"]]
                if ids:
                    asg.set_instance_protection(
                        AutoScalingGroupName=group["AutoScalingGroupName"],
                        InstanceIds=ids,
                        ProtectedFromScaleIn=False,
                    )
                    count += len(ids)
        return count

    def state_exists(self) -> bool:
        """False when the state bucket does not exist: nothing was ever deployed here."""
        try:
            self.target.client("s3").head_bucket(Bucket=self.target.bucket())
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    def down(self) -> PlanResult | None:
        """Destroy the fleet; None when there is nothing to destroy (no state backend)."""
        if not self.state_exists():
            self.report(f"no state bucket {self.target.bucket()}: nothing was deployed here")
            return None
        if self.target.sandbox is not None:
            # nothing may scale a group or boot a host while Terraform destroys the fleet
            self.target.sandbox.stop_runtime()
        self.deregister_runners()
        if self.target.sandbox is not None:
            self.unprotect_for_sandbox_destroy()
        if self.apply_marker.exists():
            self.import_before_destroy()
        plan = self.plan(destroy=True)
        if plan.has_changes:
            self.report("terraform apply (destroy)")
            self.terraform().apply(plan.plan_file)
        self.apply_marker.unlink(missing_ok=True)  # whatever the killed apply made is gone
        self.removed_parameters = self.sweep_parameters()
        return plan

    def import_before_destroy(self, passes: int = 3) -> list[adopt_mod.Orphan]:
        """After a killed apply, import what it created but never wrote to the state.

        A destroy plan knows only the state, so without this `down` after a killed `up`
        would leave those resources behind. The search is the one `up` uses
        (`adopt_orphans`: the plan's creates that AWS already holds, by name or by the
        fleet's tags, repeated as imports make more ids known). The found resources are
        imported by import blocks in a plan targeted at them (`-target`), which is applied
        only when it creates no AWS resource. Not `terraform import`, the command: it
        evaluates the whole configuration, and with the killed apply's other resources
        missing from the state a `for_each` over them is unknown ("Invalid for_each
        argument"), so it failed exactly when it was needed.
        """
        self.report("the last apply did not finish (killed?): looking for its resources")
        plan = self.plan()
        if not plan.has_changes:
            return []
        self.adopt_orphans(plan, passes, why="importing it, so that it is destroyed too")
        found = list(self._imports)
        if not found:
            return []
        try:
            targeted = self.plan(self.run_dir / "import.tfplan", targets=[o.address for o in found])
            creates = adopt_mod.planned_aws_creates(targeted.json)
            if creates:
                raise TerraformError(
                    "importing them would first create "
                    + ", ".join(creates)
                    + " (not found in AWS)"
                )
            self.report(f"terraform apply (imports {len(found)})")
            self.terraform().apply(targeted.plan_file)
        except TerraformError as exc:
            steps = adopt_mod.manual_imports(found, str(self.ws.stack_dir), str(self.var_file))
            raise TerraformError(
                "resources exist in AWS but not in the state, and importing them failed "
                f"({str(exc).splitlines()[0]}); import them by hand, then run down again:"
                f"\n{steps}",
                exc.output,
                exc.returncode,
            ) from exc
        finally:
            self._imports = []  # in the state now (or refused): no import blocks in the destroy
        return found

    def sweep_parameters(self) -> list[str]:
        """Delete the fleet's SSM parameters that Terraform does not manage.

        `/<name>/runners/*` (one-shot registrations the control plane writes) always go. The
        GitHub credentials `/<name>/github/*` go in the sandbox (the sandbox wrote them); on
        AWS they are the operator's (`runnerfleet github configure`) and are kept, reported.
        """
        ssm = self.target.client("ssm")
        prefixes = [f"/{self.cfg.name}/runners/"]
        if self.target.sandbox is not None:
            prefixes.append(f"/{self.cfg.name}/github/")
        names: list[str] = []
        for prefix in prefixes:
            pages = ssm.get_paginator("get_parameters_by_path").paginate(
                Path=prefix.rstrip("/"), Recursive=True
            )
            names += [p["Name"] for page in pages for p in page["Parameters"]]
        for i in range(0, len(names), 10):
            ssm.delete_parameters(Names=names[i : i + 10])
        if names:
            self.report(f"removed {len(names)} SSM parameter(s) written outside Terraform")
        if self.target.sandbox is None:
            kept = ssm.get_parameters_by_path(Path=f"/{self.cfg.name}/github", Recursive=True)
            if kept["Parameters"]:
                self.report(
                    f"kept the GitHub credentials under /{self.cfg.name}/github/ (yours); "
                    f"remove them with: aws ssm delete-parameters --names "
                    + " ".join(p["Name"] for p in kept["Parameters"])
                )
        return names

    def outputs(self) -> dict[str, Any]:
        tf = self.prepare()
        return tf.output()

    def instances(self) -> list[dict[str, Any]]:
        """The fleet's runner instances, from EC2 tags (the ground truth)."""
        ec2 = self.target.client("ec2")
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": "tag:runnerfleet:fleet", "Values": [self.cfg.name]},
                {"Name": "tag:runnerfleet:role", "Values": ["runner"]},
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                },
            ]
        )
        found: list[dict[str, Any]] = []
        for page in pages:
            for res in page["Reservations"]:
                for inst in res["Instances"]:
                    tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                    found.append(
                        {
                            "id": inst["InstanceId"],
                            "name": tags.get("Name", ""),
                            "state": inst["State"]["Name"],
                            "pool": tags.get("runnerfleet:pool", ""),
                            "private_ip": inst.get("PrivateIpAddress", ""),
                        }
                    )
        return sorted(found, key=lambda i: (i["name"], i["id"]))

    def github_runners(self) -> list[dict[str, Any]]:
        """The fleet's runners as GitHub sees them (sandbox: the GitHub emulator; AWS: with the
        control plane's credentials from SSM `/<name>/github/*`; when they cannot be read or
        GitHub refuses, that is reported and the list is empty)."""
        if self.target.sandbox is not None:
            sim = importlib.import_module("runnerfleet.agent.simulate")
            runners: list[dict[str, Any]] = sim.sandbox_list_runners(self.cfg, self.target)
            return runners
        from runnerfleet.controlplane.local import plane_for
        from runnerfleet.github.errors import GitHubError

        try:
            gh = plane_for(self.cfg, self.target).github
        except Exception as exc:  # status must still show the rest
            self.report(f"GitHub runners not listed (no GitHub credentials readable: {exc})")
            return []
        owner, repo = self.cfg.github.owner, self.cfg.github.repository
        try:
            found = [
                {"id": r.id, "name": r.name, "status": r.status, "busy": r.busy, "labels": r.labels}
                for r in gh.list_runners(owner, repo)
                if is_fleet_runner(self.cfg.name, r.name)
            ]
        except GitHubError as exc:
            self.report(f"GitHub runners not listed: {exc}")
            return []
        finally:
            gh.close()
        return sorted(found, key=lambda r: str(r["name"]))
