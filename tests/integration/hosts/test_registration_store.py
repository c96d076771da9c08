"""Registrations that fit SSM (moto server): Standard tier up to 4,096 bytes, Advanced above
(GitHub's JIT configs are larger), a clear error above 8,192 that writes nothing, and the
instance tag the hosts' IAM policy matches against the calling instance. Against the sandbox's
strict emulator (`strict_aws`), which refuses a Standard-tier value over 4,096 characters as
AWS does (moto stores it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runnerfleet.controlplane.ssm_store import (
    INSTANCE_TAG,
    RegistrationStore,
    RegistrationTooLarge,
    tier_for,
)


@pytest.fixture(scope="module")
def aws(strict_aws: Callable[[str], Any]) -> Callable[[str], Any]:
    return strict_aws


def _tier(ssm: Any, name: str) -> str:
    [p] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])[
        "Parameters"
    ]
    return str(p.get("Tier", "Standard"))


def test_tier_follows_the_size() -> None:
    assert tier_for("x" * 4096) == "Standard"
    assert tier_for("x" * 4097) == "Advanced"
    assert tier_for("é" * 2049) == "Advanced"  # 4,098 bytes: the limit counts bytes
    assert tier_for("x" * 8192) == "Advanced"
    with pytest.raises(RegistrationTooLarge, match="at most 8192"):
        tier_for("x" * 8193)


def test_put_writes_small_values_standard_and_jit_sized_values_advanced(
    aws: Callable[[str], Any], fleet: str
) -> None:
    ssm = aws("ssm")
    store = RegistrationStore(ssm, f"/{fleet}/runners")
    assert store.put("i-0small", "s" * 200)
    assert store.put("i-0big", "b" * 6000)  # the size of a real encoded_jit_config
    assert _tier(ssm, f"/{fleet}/runners/i-0small") == "Standard"
    assert _tier(ssm, f"/{fleet}/runners/i-0big") == "Advanced"
    value = ssm.get_parameter(Name=f"/{fleet}/runners/i-0big", WithDecryption=True)
    assert value["Parameter"]["Value"] == "b" * 6000
    tags = ssm.list_tags_for_resource(
        ResourceType="Parameter", ResourceId=f"/{fleet}/runners/i-0big"
    )["TagList"]
    assert {"Key": INSTANCE_TAG, "Value": "i-0big"} in tags
    assert not store.put("i-0big", "again")  # never overwritten


def test_too_large_registration_is_refused_before_any_write(
    aws: Callable[[str], Any], fleet: str
) -> None:
    ssm = aws("ssm")
    store = RegistrationStore(ssm, f"/{fleet}/runners")
    with pytest.raises(RegistrationTooLarge, match="Advanced tier"):
        store.put("i-0huge", "h" * 9000)
    assert store.list() == []
