"""infra/modules/network with nat_mode = "instance", applied against the sandbox's AWS
emulator (moto server), then read back through the EC2/ASG APIs: no NAT gateway, the private
routes target the NAT interface, source/destination check off, the Elastic IP on it, one
instance in the NAT Auto Scaling group launched from a t4g.nano template with IMDSv2; a
second plan finds nothing to change; destroy leaves nothing.

Also `terraform test` of the module (mock provider), which covers every nat_mode.

What moto cannot show: the instance's boot (attaching the interface, iptables). That is the
user data, shellchecked and asserted in tests/unit/infra/test_nat_instance_user_data.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from runnerfleet.sandbox import provider_override
from runnerfleet.workspace import sandbox_module_overrides

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]

REPO = Path(__file__).resolve().parents[3]
MODULE = REPO / "infra" / "modules" / "network"
REGION = "us-east-1"
DUMMY = "testing"  # moto accepts any credentials; not a secret

ROOT = """
module "network" {
  source               = "./network"
  name                 = "natfleet"
  availability_zones   = ["us-east-1a", "us-east-1b"]
  public_subnet_cidrs  = ["10.0.1.0/24", "10.0.3.0/24"]
  private_subnet_cidrs = ["10.0.2.0/24", "10.0.4.0/24"]
  nat_mode             = "instance"
  # no nat_instance_ami_id: the AMI comes from AWS's public SSM parameter (moto has it)
}

# the sandbox's provider override file reads these two (as in the root stack)
variable "name" {
  type    = string
  default = "natfleet"
}

variable "tags" {
  type    = map(string)
  default = {}
}

provider "aws" {
  region = "us-east-1"
}

output "network" {
  value = module.network
}
"""


def _env(cli_config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        AWS_ACCESS_KEY_ID=DUMMY,
        AWS_SECRET_ACCESS_KEY=DUMMY,
        AWS_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _tf(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["terraform", *args, "-no-color"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    return proc


def test_network_module_terraform_tests(tmp_path: Path, tf_cli_config: Path) -> None:
    copy = tmp_path / "network"
    shutil.copytree(MODULE, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    env = _env(tf_cli_config)
    init = _tf(["init", "-backend=false", "-input=false"], copy, env)
    assert init.returncode == 0, init.stdout + init.stderr
    result = _tf(["test"], copy, env)
    runs = (copy / "tests" / "network.tftest.hcl").read_text().count('\nrun "')
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{runs} passed, 0 failed" in result.stdout, result.stdout


def test_nat_instance_applies_in_the_sandbox(
    tmp_path: Path, tf_cli_config: Path, moto_server: str
) -> None:
    shutil.copytree(
        MODULE, tmp_path / "network", ignore=shutil.ignore_patterns(".terraform*", "tests")
    )
    # the sandbox's own override for this module (moto reads launch-template tags back oddly)
    (tmp_path / "network" / "sandbox_override.tf").write_text(
        sandbox_module_overrides()["modules/network"]
    )
    (tmp_path / "main.tf").write_text(ROOT)
    (tmp_path / "zz_provider_override.tf").write_text(provider_override(moto_server, REGION))
    kw: dict[str, Any] = {
        "endpoint_url": moto_server,
        "region_name": REGION,
        "aws_access_key_id": DUMMY,
        "aws_secret_access_key": DUMMY,
    }
    ec2 = boto3.client("ec2", **kw)
    env = _env(tf_cli_config)
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        proc = _tf(args, tmp_path, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        out = json.loads(_tf(["output", "-json"], tmp_path, env).stdout)["network"]["value"]
        eni_id = out["nat_instance_network_interface_id"]
        assert out["nat_gateway_ids"] == []
        vpc = out["vpc_id"]
        assert not ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
            "NatGateways"
        ]
        eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
        assert eni["SourceDestCheck"] is False
        assert eni["SubnetId"] == out["public_subnet_ids"][0]
        assert eni["Association"]["PublicIp"] == out["nat_public_ips"][0]
        for rt_id in out["private_route_table_ids"]:
            rt = ec2.describe_route_tables(RouteTableIds=[rt_id])["RouteTables"][0]
            default = [r for r in rt["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
            assert [r.get("NetworkInterfaceId") for r in default] == [eni_id], rt["Routes"]
        asg = boto3.client("autoscaling", **kw).describe_auto_scaling_groups(
            AutoScalingGroupNames=[out["nat_instance_autoscaling_group_name"]]
        )["AutoScalingGroups"][0]
        assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == (1, 1, 1)
        assert len(asg["Instances"]) == 1
        lt = ec2.describe_launch_template_versions(
            LaunchTemplateId=asg["LaunchTemplate"]["LaunchTemplateId"], Versions=["$Latest"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        assert lt["InstanceType"] == "t4g.nano" and "KeyName" not in lt
        image = ec2.describe_images(ImageIds=[lt["ImageId"]])["Images"][0]
        assert image["Architecture"] == "arm64"
        assert lt["MetadataOptions"]["HttpTokens"] == "required"
        assert lt["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        assert lt["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
        replan = _tf(["plan", "-detailed-exitcode", "-input=false"], tmp_path, env)
        assert replan.returncode == 0, "a second plan must find nothing to change:\n" + (
            replan.stdout + replan.stderr
        )
    finally:
        destroy = _tf(["destroy", "-auto-approve", "-input=false"], tmp_path, env)
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr
    assert not ec2.describe_vpcs(
        Filters=[{"Name": "tag:runnerfleet:fleet", "Values": ["natfleet"]}]
    )["Vpcs"]
