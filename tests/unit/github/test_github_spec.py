"""The OpenAPI checks themselves: they catch malformed traffic, and cover what we use."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from runnerfleet.github.client import GitHubClient, TokenAuth
from runnerfleet.github.emulator import GitHubEmulator
from runnerfleet.github.spec import ApiSpec, SpecViolation, ValidatingTransport, WebhookSpec

ROOT = Path(__file__).resolve().parents[3]
GOOD_RUNNER = {
    "id": 1,
    "name": "r",
    "os": "linux",
    "status": "online",
    "busy": False,
    "labels": [{"id": 1, "name": "self-hosted", "type": "read-only"}],
}


def _client(handler: Any) -> tuple[GitHubClient, ValidatingTransport]:
    transport = ValidatingTransport(httpx.MockTransport(handler), "https://api.github.com")
    return GitHubClient("https://api.github.com", TokenAuth("t"), transport=transport), transport


def test_well_formed_response_passes() -> None:
    client, transport = _client(
        lambda r: httpx.Response(200, json={"total_count": 1, "runners": [GOOD_RUNNER]})
    )
    assert [r.name for r in client.list_runners("acme")] == ["r"]
    assert transport.checked == 1 and transport.violations == []


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in GOOD_RUNNER.items() if k != "busy"},  # required field missing
        {**GOOD_RUNNER, "id": "1"},  # wrong type
        {**GOOD_RUNNER, "labels": [{"id": 1}]},  # label without a name
    ],
)
def test_malformed_response_is_caught(broken: dict[str, Any]) -> None:
    client, transport = _client(
        lambda r: httpx.Response(200, json={"total_count": 1, "runners": [broken]})
    )
    with pytest.raises(SpecViolation, match="response 200"):
        client.list_runners("acme")
    assert transport.violations


def test_malformed_request_is_caught() -> None:
    transport = ValidatingTransport(
        httpx.MockTransport(lambda r: httpx.Response(201, json={})), "https://api.github.com"
    )
    with httpx.Client(transport=transport, base_url="https://api.github.com") as http:
        with pytest.raises(SpecViolation, match="request"):
            http.post("/orgs/acme/actions/runners/generate-jitconfig", json={"labels": []})
        with pytest.raises(SpecViolation, match="not a path"):
            http.get("/orgs/acme/actions/made-up")


def test_undocumented_error_status_needs_basic_error_shape() -> None:
    spec = ApiSpec.load()
    ok = json.dumps({"message": "Not Found", "documentation_url": "x"}).encode()
    assert spec.errors("DELETE", "/orgs/a/actions/runners/1", {}, {}, b"", 404, {}, ok) == []
    bad = spec.errors("DELETE", "/orgs/a/actions/runners/1", {}, {}, b"", 404, {}, b"oops")
    assert bad and "not JSON" in bad[0]


def test_emulator_self_check_catches_a_broken_body(monkeypatch: pytest.MonkeyPatch) -> None:
    emu = GitHubEmulator(validate=True)
    emu.start()
    try:
        emu.add_installation("acme")
        original = emu.api.runner_body
        monkeypatch.setattr(
            emu.api,
            "runner_body",
            lambda rec: {k: v for k, v in original(rec).items() if k != "os"},
        )
        with emu.world.lock:
            emu.world.create_runner("acme", None, "x", ["linux"], ephemeral=False)
        resp = httpx.get(
            f"{emu.url}/orgs/acme/actions/runners",
            headers={"Authorization": f"Bearer {emu.pat}"},
        )
        assert resp.status_code == 599  # replaced, so the caller fails loudly
        assert "spec violation" in resp.json()["message"]
        assert any("'os' is a required property" in v for v in emu.spec_violations)
    finally:
        emu.stop()


def test_webhook_schema_catches_a_malformed_payload(emulator: GitHubEmulator) -> None:
    emulator.enqueue_job("acme", "app", ["linux"])
    delivery = next(iter(emulator.deliveries.values()))
    spec = WebhookSpec.load()
    assert spec.errors("workflow_job.queued", delivery.headers, delivery.body) == []
    payload = json.loads(delivery.body)
    del payload["workflow_job"]["labels"]
    errors = spec.errors("workflow_job.queued", delivery.headers, json.dumps(payload).encode())
    assert errors and "labels" in errors[0]
    assert spec.errors("push", delivery.headers, delivery.body)


def test_description_covers_every_emulated_route(emulator: GitHubEmulator) -> None:
    doc = ApiSpec.load().doc
    for route in emulator.api.routes():
        assert route.template in doc["paths"], route.template
        assert route.method.lower() in doc["paths"][route.template], route.template


def test_vendored_files_name_their_source() -> None:
    for name, package in (
        ("api.github.com.json", "@octokit/openapi@"),
        ("webhooks.json", "@octokit/openapi-webhooks@"),
    ):
        path = ROOT / "src" / "runnerfleet" / "github" / "openapi" / name
        info = json.loads(path.read_text())["info"]
        assert info["x-npm-package"].startswith(package)
        assert path.stat().st_size < 512 * 1024  # only the parts we use


def test_vendor_script_keeps_referenced_components_only() -> None:
    spec = importlib.util.spec_from_file_location(
        "vendor_github_openapi", ROOT / "scripts" / "vendor_github_openapi.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"version": "1"},
        "paths": {p: {"get": {"x": {"$ref": "#/components/schemas/a"}}} for p in mod.API_PATHS},
        "components": {
            "schemas": {
                "a": {"properties": {"b": {"$ref": "#/components/schemas/b"}}, "example": 1},
                "b": {"type": "string"},
                "unused": {"type": "string"},
            }
        },
    }
    out = mod.vendor_api(doc)
    assert sorted(out["components"]["schemas"]) == ["a", "b"]
    assert "example" not in out["components"]["schemas"]["a"]
    doc["paths"].pop(mod.API_PATHS[0])
    with pytest.raises(SystemExit, match="missing"):
        mod.vendor_api(doc)


def test_missing_openapi_core_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "openapi_core", None)
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[dev\]'"):
        ApiSpec({"openapi": "3.0.3", "paths": {}})
