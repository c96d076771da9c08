"""`[monitoring] detailed_monitoring` reaches the runner hosts through the root stack: the
static plan (on, PLAN_CONFIGS) has one-minute monitoring on every runner instance, the
autoscaled plan (off, the default) has it off in every pool's launch template."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.terraform, pytest.mark.emulator]


def _changes(plan: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [rc for rc in plan["resource_changes"] if rc["type"] == rtype]


def test_detailed_monitoring_follows_the_config(stack_plan_json: Any) -> None:
    static, scaled = stack_plan_json("static"), stack_plan_json("autoscaled")
    assert stack_plan_json.config("static").monitoring.detailed_monitoring is True
    assert stack_plan_json.config("autoscaled").monitoring.detailed_monitoring is False
    instances = _changes(static, "aws_instance")
    assert len(instances) == 2, [rc["address"] for rc in instances]
    for rc in instances:
        assert rc["change"]["after"]["monitoring"] is True, rc["address"]
    templates = _changes(scaled, "aws_launch_template")
    assert len(templates) == 2, [rc["address"] for rc in templates]
    for rc in templates:
        assert rc["change"]["after"]["monitoring"] == [{"enabled": False}], rc["address"]
