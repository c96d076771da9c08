"""Why a queued job waits, as `runnerfleet jobs` says it."""

from __future__ import annotations

from runnerfleet.sandboxrt.jobs import PoolView, pool_for, pool_views, why_waiting

SMALL = PoolView("small", ("self-hosted", "linux", "x64", "small"), desired=1, max_size=2,
                 instances=1)  # fmt: skip


def test_a_job_no_pool_serves_says_so() -> None:
    assert why_waiting(["self-hosted", "gpu"], [SMALL], 0) == (
        "no pool has its labels (self-hosted, gpu)"
    )


def test_labels_match_case_insensitively_and_must_all_be_present() -> None:
    assert pool_for(["Self-Hosted", "SMALL"], [SMALL]) == SMALL
    assert pool_for(["small", "arm64"], [SMALL]) is None


def test_reasons_for_a_pool_that_serves_the_job() -> None:
    booting = PoolView("small", SMALL.labels, desired=1, max_size=2, instances=1, booting=1)
    assert "host booting" in why_waiting(["small"], [booting], 0)
    full = PoolView("small", SMALL.labels, desired=2, max_size=2, instances=2, online=2)
    assert "at max (2)" in why_waiting(["small"], [full], 3)
    launching = PoolView("small", SMALL.labels, desired=2, max_size=3, instances=1)
    assert "instance launching (1/2)" in why_waiting(["small"], [launching], 0)
    behind = PoolView("small", SMALL.labels, desired=1, max_size=3, instances=1, online=1)
    assert "waiting for scale-out" in why_waiting(["small"], [behind], 1)


def test_pool_views_from_groups_and_hosts() -> None:
    groups = [{
        "AutoScalingGroupName": "f-small", "DesiredCapacity": 2, "MaxSize": 4,
        "Tags": [{"Key": "runnerfleet:fleet", "Value": "f"},
                 {"Key": "runnerfleet:pool", "Value": "small"}],
        "Instances": [{"LifecycleState": "InService"}, {"LifecycleState": "Terminating"}],
    }]  # fmt: skip
    hosts = [{"pool": "small", "state": "booting"}, {"pool": "small", "state": "stopped"}]
    (view,) = pool_views({"small": ["small"]}, groups, hosts, "f")
    assert (view.desired, view.max_size, view.instances, view.booting) == (2, 4, 1, 1)
