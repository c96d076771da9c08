"""ControlPlaneSettings: the Lambda environment contract and the config mapping."""

from __future__ import annotations

import pytest

from runnerfleet.controlplane.settings import ControlPlaneSettings, table_name

ENV = {
    "RUNNERFLEET_NAME": "rf",
    "RUNNERFLEET_TABLE": "rf-control-plane",
    "RUNNERFLEET_MODE": "autoscaled",
    "RUNNERFLEET_RUNNER_LABELS": "linux, x64",
    "RUNNERFLEET_POOL_LABELS": '{"default": [], "gpu": ["gpu"]}',
    "RUNNERFLEET_POOL_IDLE": '{"gpu": 2}',
    "RUNNERFLEET_EPHEMERAL": "true",
    "RUNNERFLEET_GITHUB_OWNER": "acme",
    "RUNNERFLEET_GITHUB_REPOSITORY": "",
    "RUNNERFLEET_GITHUB_API_URL": "https://ghe.example.com/api/v3/",
    "RUNNERFLEET_BOOT_TIMEOUT": "900",
    "RUNNERFLEET_JOB_RECHECK_SECONDS": "45",
    "RUNNERFLEET_LOG_LEVEL": "debug",
}


def test_from_env_reads_the_contract() -> None:
    s = ControlPlaneSettings.from_env(ENV)
    assert (s.name, s.table, s.mode, s.ephemeral) == ("rf", "rf-control-plane", "autoscaled", True)
    assert s.runner_labels == ("linux", "x64") and s.github_repository is None
    assert s.github_api_url == "https://ghe.example.com/api/v3"
    assert s.webhook_secret_parameter == "/rf/github/webhook-secret"
    assert (s.boot_timeout, s.log_level, s.runner_group, s.runner_group_id) == (
        900.0,
        "DEBUG",
        "Default",
        None,
    )
    assert s.job_recheck_seconds == 45.0
    pools = {p.name: p for p in s.pools()}
    assert pools["gpu"].idle == 2 and pools["default"].idle == 0
    assert "gpu" in pools["gpu"].labels and "x64" in pools["default"].labels
    reg = s.registrar_settings()
    assert (reg.owner, reg.ephemeral, reg.api_url) == ("acme", True, s.github_api_url)
    assert reg.jit_runner_group is None  # Default: id 1, no lookup
    assert table_name("rf") == "rf-control-plane"


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("RUNNERFLEET_NAME", "", "RUNNERFLEET_NAME"),
        ("RUNNERFLEET_MODE", "both", "RUNNERFLEET_MODE"),
        ("RUNNERFLEET_POOL_LABELS", "[1]", "RUNNERFLEET_POOL_LABELS"),
        ("RUNNERFLEET_POOL_LABELS", '{"a": "x"}', "RUNNERFLEET_POOL_LABELS"),
        ("RUNNERFLEET_POOL_IDLE", '{"gpu": -1}', "RUNNERFLEET_POOL_IDLE"),
        ("RUNNERFLEET_POOL_IDLE", '{"nope": 1}', "idle counts"),
        ("RUNNERFLEET_EPHEMERAL", "yes", "RUNNERFLEET_EPHEMERAL"),
        ("RUNNERFLEET_BOOT_TIMEOUT", "10", "RUNNERFLEET_BOOT_TIMEOUT"),
        ("RUNNERFLEET_JOB_RECHECK_SECONDS", "5", "RUNNERFLEET_JOB_RECHECK_SECONDS"),
        ("RUNNERFLEET_RUNNER_COUNT", "x", "RUNNERFLEET_RUNNER_COUNT"),
        ("RUNNERFLEET_LOG_LEVEL", "LOUD", "RUNNERFLEET_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_variable(key: str, value: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        ControlPlaneSettings.from_env({**ENV, key: value})


def test_from_config_matches_the_fleet_config() -> None:
    from runnerfleet import config

    cfg = config.validate(
        {
            "name": "rfx",
            "github": {"owner": "acme", "repository": "app", "runner_group": "ci builders"},
            "control_plane": {"job_recheck_seconds": 60},
            "runners": {
                "mode": "autoscaled",
                "pools": [{"name": "default", "max_size": 3}, {"name": "gpu", "idle": 2}],
            },
        }
    )
    s = ControlPlaneSettings.from_config(cfg, table="rfx-control-plane", github_api_url="http://x/")
    assert (s.name, s.table, s.github_owner, s.github_repository) == (
        "rfx",
        "rfx-control-plane",
        "acme",
        "app",
    )
    assert s.github_api_url == "http://x" and s.pool_sizes == {"default": (0, 3), "gpu": (0, 5)}
    assert [p.max_size for p in s.pools()] == [3, 5]
    assert s.pool_idle == {"default": 0, "gpu": 2} and s.job_recheck_seconds == 60.0
    assert s.runner_group == "ci builders" and s.registrar_settings().runner_group == "ci builders"
    assert {p.name: p.idle for p in s.pools()} == {"default": 0, "gpu": 2}
    with pytest.raises(ValueError, match="GitHub owner"):
        ControlPlaneSettings(name="rf").registrar_settings()


def test_runner_group_by_name_and_an_explicit_id_wins() -> None:
    named = ControlPlaneSettings.from_env({**ENV, "RUNNERFLEET_RUNNER_GROUP": "ci builders"})
    assert named.runner_group == "ci builders" and named.runner_group_id is None
    assert named.registrar_settings().jit_runner_group == "ci builders"
    both = {**ENV, "RUNNERFLEET_RUNNER_GROUP": "ci builders", "RUNNERFLEET_RUNNER_GROUP_ID": "7"}
    explicit = ControlPlaneSettings.from_env(both).registrar_settings()
    assert (explicit.runner_group_id, explicit.jit_runner_group) == (7, None)
    with pytest.raises(ValueError, match="RUNNERFLEET_RUNNER_GROUP_ID"):
        ControlPlaneSettings.from_env({**ENV, "RUNNERFLEET_RUNNER_GROUP_ID": "x"})
    with pytest.raises(ValueError, match="RUNNERFLEET_RUNNER_GROUP"):
        ControlPlaneSettings(name="rf", runner_group=" ")


def test_the_reconciler_rechecks_jobs_after_job_recheck_seconds() -> None:
    """The one place the setting reaches: the reconciler's queue timeout (lost webhooks)."""
    from runnerfleet.controlplane.compose import compose

    made: list[str] = []

    def clients(service: str) -> object:  # never called: only building is tested
        made.append(service)
        return object()

    s = ControlPlaneSettings.from_env(ENV)
    plane = compose(s, clients, github=object())
    assert plane.reconciler.settings.queue_timeout == 45.0
    assert plane.reconciler.settings.github_sync_seconds == s.github_sync_seconds
