"""No Terraform code in infra/ uses what hashicorp/aws 6.x removed; constraints allow 5.100-6.x.

The project's constraint is `>= 5.100, < 7`, so every module must hold on both majors. The
list below is taken from the provider's "Terraform AWS Provider Version 6 Upgrade Guide"
(hashicorp/terraform-provider-aws, website/docs/guides/version-6-upgrade.html.markdown,
published as https://registry.terraform.io/providers/hashicorp/aws/latest/docs/guides/version-6-upgrade):
the sections "Removed Provider Arguments", "OpsWorks Stacks Removal", "SimpleDB Support
Removed", "Worklink Support Removed", the per-resource and per-data-source removals
("Remove `x`—it is no longer supported", renamed arguments, now computed-only arguments),
"Data Source `aws_ami`" (most_recent needs an owner or an owner-id/image-id filter), and
"Nullable Boolean Validation Update" (only "", true or false for those booleans). It also
flags `data.aws_region.<x>.name`, deprecated in 6.x ("Data Source `aws_region`").

Every .tf file under infra/ (modules, their examples and tests aside from .terraform, and
the stacks) is read with the small HCL reader in scripts/module_docs.py, so the checks
look at blocks and attributes, not at regexes over text.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # loaded from its path at run time (_load_module_docs); mypy_path has scripts
    from module_docs import Block

REPO = Path(__file__).resolve().parents[3]
INFRA = REPO / "infra"

PROVIDER_CONSTRAINT = ">= 5.100, < 7"
TERRAFORM_CONSTRAINT = ">= 1.10"


def _load_module_docs() -> ModuleType:
    if "module_docs" in sys.modules:
        return sys.modules["module_docs"]
    path = REPO / "scripts" / "module_docs.py"
    spec = importlib.util.spec_from_file_location("module_docs", path)
    assert spec and spec.loader, f"cannot load {path}"
    mod = importlib.util.module_from_spec(spec)
    sys.modules["module_docs"] = mod
    spec.loader.exec_module(mod)
    return mod


md = _load_module_docs()

# Resource types removed in 6.0.0.
REMOVED_RESOURCES: dict[str, str] = {
    "aws_simpledb_domain": "SimpleDB support removed",
    "aws_worklink_fleet": "Worklink support removed",
    "aws_worklink_website_certificate_authority_association": "Worklink support removed",
    "aws_redshift_service_account": "removed; use a service principal in the policy",
    **{
        f"aws_opsworks_{kind}": "OpsWorks Stacks removed (end of life)"
        for kind in [
            "application",
            "custom_layer",
            "ecs_cluster_layer",
            "ganglia_layer",
            "haproxy_layer",
            "instance",
            "java_app_layer",
            "memcached_layer",
            "mysql_layer",
            "nodejs_app_layer",
            "permission",
            "php_app_layer",
            "rails_app_layer",
            "rds_db_instance",
            "stack",
            "static_web_layer",
            "user_profile",
        ]
    },
}

# (block kind, type) -> {argument or nested block path: what to do instead}.
REMOVED_ARGUMENTS: dict[tuple[str, str], dict[str, str]] = {
    ("provider", "aws"): {
        "endpoints.opsworks": "removed (OpsWorks end of life)",
        "endpoints.simpledb": "removed (SimpleDB support dropped)",
        "endpoints.sdb": "removed (SimpleDB support dropped)",
        "endpoints.worklink": "removed (Worklink support dropped)",
    },
    ("data", "aws_batch_compute_environment"): {"compute_environment_name": "renamed to name"},
    ("data", "aws_ecs_task_definition"): {"inference_accelerator": "removed"},
    ("data", "aws_ecs_task_execution"): {"inference_accelerator_overrides": "removed"},
    ("data", "aws_globalaccelerator_accelerator"): {"id": "now computed only"},
    ("data", "aws_identitystore_group"): {"filter": "removed; use alternate_identifier"},
    ("data", "aws_identitystore_user"): {"filter": "removed; use alternate_identifier"},
    ("data", "aws_launch_template"): {
        "elastic_gpu_specifications": "removed (Elastic Graphics end of life)",
        "elastic_inference_accelerator": "removed (Elastic Inference end of life)",
    },
    ("resource", "aws_api_gateway_account"): {"reset_on_delete": "removed"},
    ("resource", "aws_api_gateway_deployment"): {
        "stage_name": "removed; use aws_api_gateway_stage",
        "stage_description": "removed; use aws_api_gateway_stage",
        "canary_settings": "removed; use aws_api_gateway_stage",
    },
    ("resource", "aws_batch_compute_environment"): {
        "compute_environment_name": "renamed to name",
        "compute_environment_name_prefix": "renamed to name_prefix",
    },
    ("resource", "aws_batch_job_queue"): {
        "compute_environments": "removed; use compute_environment_order blocks"
    },
    ("resource", "aws_cloudfront_response_headers_policy"): {"etag": "now computed only"},
    ("resource", "aws_dms_endpoint"): {"s3_settings": "removed; use aws_dms_s3_endpoint"},
    ("resource", "aws_dx_gateway_association"): {
        "vpn_gateway_id": "removed; use associated_gateway_id"
    },
    ("resource", "aws_ecs_task_definition"): {"inference_accelerator": "removed"},
    ("resource", "aws_eip"): {"vpc": 'removed; use domain = "vpc"'},
    ("resource", "aws_eks_addon"): {
        "resolve_conflicts": "removed; use resolve_conflicts_on_create/_on_update"
    },
    ("resource", "aws_flow_log"): {"log_group_name": "removed; use log_destination"},
    ("resource", "aws_guardduty_organization_configuration"): {
        "auto_enable": "removed; use auto_enable_organization_members"
    },
    ("resource", "aws_instance"): {
        "cpu_core_count": "removed; use cpu_options { core_count }",
        "cpu_threads_per_core": "removed; use cpu_options { threads_per_core }",
    },
    ("resource", "aws_launch_template"): {
        "elastic_gpu_specifications": "removed (Elastic Graphics end of life)",
        "elastic_inference_accelerator": "removed (Elastic Inference end of life)",
    },
    ("resource", "aws_networkmanager_core_network"): {
        "base_policy_region": "removed; use base_policy_regions"
    },
    ("resource", "aws_opensearch_domain"): {"kibana_endpoint": "removed"},
    ("resource", "aws_redshift_cluster"): {
        "snapshot_copy": "removed; use aws_redshift_snapshot_copy",
        "logging": "removed; use aws_redshift_logging",
        "cluster_public_key": "now read only",
        "cluster_revision_number": "now read only",
        "endpoint": "now read only",
    },
    ("resource", "aws_sagemaker_notebook_instance"): {
        "accelerator_types": "removed; use instance_type"
    },
    ("resource", "aws_spot_instance_request"): {"block_duration_minutes": "removed"},
    ("resource", "aws_ssm_association"): {"instance_id": "removed; use targets"},
}

# "Nullable Boolean Validation Update": these accept only "", true or false in 6.x.
NULLABLE_BOOLS: dict[str, list[str]] = {
    "aws_accessanalyzer_archive_rule": ["filter.exists"],
    "aws_alb_target_group": ["preserve_client_ip"],
    "aws_lb_target_group": ["preserve_client_ip"],
    "aws_cloudtrail_event_data_store": ["suspend"],
    "aws_ec2_spot_instance_fleet": ["terminate_instances_on_delete"],
    "aws_elasticache_cluster": ["auto_minor_version_upgrade"],
    "aws_elasticache_replication_group": [
        "at_rest_encryption_enabled",
        "auto_minor_version_upgrade",
    ],
    "aws_imagebuilder_container_recipe": [
        "instance_configuration.block_device_mapping.ebs.delete_on_termination",
        "instance_configuration.block_device_mapping.ebs.encrypted",
    ],
    "aws_imagebuilder_image_recipe": [
        "block_device_mapping.ebs.delete_on_termination",
        "block_device_mapping.ebs.encrypted",
    ],
    "aws_launch_template": [
        "block_device_mappings.ebs.delete_on_termination",
        "block_device_mappings.ebs.encrypted",
        "ebs_optimized",
        "network_interfaces.associate_carrier_ip_address",
        "network_interfaces.associate_public_ip_address",
        "network_interfaces.delete_on_termination",
        "network_interfaces.primary_ipv6",
    ],
    "aws_mq_broker": ["logs.audit"],
}
_BAD_BOOL = re.compile(r'^(?:[01]|"[01]"|"true"|"false"|"True"|"False")$')


def tf_files(root: Path = INFRA) -> list[Path]:
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def _nested(block: Block, path: list[str]) -> Iterator[tuple[Block, str]]:
    """Yield (block, last segment) for every block reached by path[:-1] (dynamic included)."""
    if len(path) == 1:
        yield block, path[0]
        return
    for sub in block.blocks:
        if sub.type == path[0]:
            yield from _nested(sub, path[1:])
        elif sub.type == "dynamic" and sub.labels and sub.labels[0] == path[0]:
            for content in sub.blocks:
                if content.type == "content":
                    yield from _nested(content, path[1:])


def _has(block: Block, path: str) -> list[str]:
    """Raw values found at path (attribute or nested/dynamic block), '{block}' for blocks."""
    found: list[str] = []
    for parent, last in _nested(block, path.split(".")):
        if last in parent.attrs:
            found.append(parent.attrs[last])
        for sub in parent.blocks:
            if sub.type == last or (sub.type == "dynamic" and sub.labels[:1] == [last]):
                found.append("{block}")
    return found


def scan_text(text: str, where: str) -> list[str]:
    """Every v6 incompatibility in one file's text, as `where: message` lines."""
    problems: list[str] = []
    for b in md.parse_hcl(text):
        kind, typ = b.type, (b.labels[0] if b.labels else "")
        label = f"{where}: {kind} {typ}" + (f".{b.labels[1]}" if len(b.labels) > 1 else "")
        if kind == "resource" and typ in REMOVED_RESOURCES:
            problems.append(f"{label}: resource type removed in 6.0 ({REMOVED_RESOURCES[typ]})")
        for path, fix in REMOVED_ARGUMENTS.get((kind, typ), {}).items():
            if _has(b, path):
                problems.append(f"{label}: `{path}` {fix} in 6.0")
        if kind == "resource":
            for path in NULLABLE_BOOLS.get(typ, []):
                for raw in _has(b, path):
                    if _BAD_BOOL.match(raw.strip()):
                        problems.append(
                            f'{label}: `{path} = {raw}`: 6.x accepts only "", true or false'
                        )
        if kind == "data" and typ == "aws_ami" and b.attrs.get("most_recent", "") == "true":
            filters = [
                md._string_value(f.attrs.get("name", '""')) for f in b.blocks if f.type == "filter"
            ]
            if "owners" not in b.attrs and not {"owner-id", "image-id"} & set(filters):
                problems.append(
                    f"{label}: most_recent = true needs `owners` or an owner-id/image-id "
                    "filter (an error in 6.0)"
                )
    for m in re.finditer(r"\bdata\.aws_region\.[A-Za-z0-9_-]+\.name\b", text):
        line = text.count("\n", 0, m.start()) + 1
        problems.append(f"{where}:{line}: `{m.group(0)}` is deprecated in 6.x; use .region")
    return problems


def scan(paths: list[Path]) -> list[str]:
    problems: list[str] = []
    for p in paths:
        problems += scan_text(p.read_text(encoding="utf-8"), str(p.relative_to(REPO)))
    return problems


def constraint_problems(text: str, where: str) -> list[str]:
    """Problems with the terraform/required_providers constraints in one file."""
    problems: list[str] = []
    for b in md.parse_hcl(text):
        if b.type != "terraform":
            continue
        if "required_version" in b.attrs:
            got = md._string_value(b.attrs["required_version"])
            if got != TERRAFORM_CONSTRAINT:
                problems.append(
                    f"{where}: required_version is {got!r}, want {TERRAFORM_CONSTRAINT!r}"
                )
        for rp in (s for s in b.blocks if s.type == "required_providers"):
            aws = rp.attrs.get("aws")
            if aws is None:
                continue
            m = re.search(r'version\s*=\s*("[^"]*")', aws)
            got = md._string_value(m.group(1)) if m else "(none)"
            if got != PROVIDER_CONSTRAINT:
                problems.append(
                    f"{where}: hashicorp/aws version is {got!r}, want {PROVIDER_CONSTRAINT!r}"
                )
            if 'source = "hashicorp/aws"' not in re.sub(r"\s+", " ", aws):
                problems.append(f'{where}: aws provider must have source = "hashicorp/aws"')
    return problems


def root_module_dirs() -> list[Path]:
    """Modules and stacks: each must have a versions.tf pinning Terraform and the provider."""
    dirs = [d for d in (INFRA / "modules").iterdir() if d.is_dir() and any(d.glob("*.tf"))]
    dirs += [d for d in (INFRA / "stacks").iterdir() if d.is_dir() and any(d.glob("*.tf"))]
    return sorted(dirs)


# ---- the real code ----------------------------------------------------------------------


def test_there_is_code_to_scan() -> None:
    files = tf_files()
    assert len(files) >= 5, f"only {len(files)} .tf files under {INFRA}"


def test_no_argument_removed_in_provider_v6() -> None:
    problems = scan(tf_files())
    assert not problems, "hashicorp/aws 6.x incompatibilities:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("module_dir", root_module_dirs(), ids=lambda d: d.name)
def test_versions_tf_pins_terraform_and_provider(module_dir: Path) -> None:
    versions = module_dir / "versions.tf"
    assert versions.exists(), f"{module_dir.relative_to(REPO)} has no versions.tf"
    text = versions.read_text(encoding="utf-8")
    where = str(versions.relative_to(REPO))
    blocks = [b for b in md.parse_hcl(text) if b.type == "terraform"]
    assert blocks, f"{where}: no terraform block"
    assert "required_version" in blocks[0].attrs, f"{where}: no required_version"
    assert any("aws" in rp.attrs for rp in blocks[0].blocks if rp.type == "required_providers"), (
        f"{where}: no required_providers aws"
    )
    assert constraint_problems(text, where) == []


def test_every_constraint_in_infra_agrees() -> None:
    problems: list[str] = []
    for p in tf_files():
        problems += constraint_problems(p.read_text(encoding="utf-8"), str(p.relative_to(REPO)))
    assert not problems, "\n".join(problems)


# ---- the checks can fail ----------------------------------------------------------------

BAD = """
provider "aws" {
  endpoints {
    opsworks = "http://127.0.0.1:1"
  }
}

resource "aws_eip" "nat" {
  vpc = true
}

resource "aws_instance" "x" {
  cpu_core_count = 2
}

resource "aws_launch_template" "x" {
  ebs_optimized = 1
  dynamic "elastic_inference_accelerator" {
    for_each = []
    content {
      type = "eia1.medium"
    }
  }
  block_device_mappings {
    ebs {
      encrypted = "1"
    }
  }
}

resource "aws_opsworks_stack" "x" {}

resource "aws_flow_log" "x" {
  log_group_name = "x"
}

data "aws_ami" "ubuntu" {
  most_recent = true
  filter {
    name   = "name"
    values = ["ubuntu/*"]
  }
}

locals {
  region = data.aws_region.current.name
}
"""

GOOD = """
resource "aws_eip" "nat" {
  domain = "vpc"
}

resource "aws_launch_template" "x" {
  ebs_optimized = true
  block_device_mappings {
    ebs {
      encrypted = var.encrypted
    }
  }
}

data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"]
}

resource "aws_flow_log" "x" {
  log_destination = "arn:aws:logs:us-east-1:123456789012:log-group:x"
}
"""


def test_scanner_flags_each_kind_of_problem() -> None:
    problems = "\n".join(scan_text(BAD, "bad.tf"))
    for needle in (
        "provider aws: `endpoints.opsworks`",
        "resource aws_eip.nat: `vpc`",
        "resource aws_instance.x: `cpu_core_count`",
        "resource aws_launch_template.x: `elastic_inference_accelerator`",
        "`ebs_optimized = 1`",
        '`block_device_mappings.ebs.encrypted = "1"`',
        "resource aws_opsworks_stack.x: resource type removed",
        "resource aws_flow_log.x: `log_group_name`",
        "data aws_ami.ubuntu: most_recent = true needs `owners`",
        "bad.tf:46: `data.aws_region.current.name` is deprecated",
    ):
        assert needle in problems, f"missing {needle!r} in:\n{problems}"


def test_scanner_passes_v6_clean_code() -> None:
    assert scan_text(GOOD, "good.tf") == []


def test_constraint_check_flags_wrong_versions() -> None:
    text = """
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}
"""
    problems = constraint_problems(text, "versions.tf")
    assert len(problems) == 2, problems
    assert "required_version is '>= 1.5'" in problems[0]
    assert "version is '~> 5.0'" in problems[1]
