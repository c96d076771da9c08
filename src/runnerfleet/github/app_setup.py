"""Setting up the GitHub App: its manifest, checking an installation, storing credentials.

- `app_manifest` builds the JSON for GitHub's "register a GitHub App from a manifest" flow
  (fields: name, url, description, public, hook_attributes {url, active}, default_events,
  default_permissions), with exactly the permissions runnerfleet.github.permissions
  requires for the owner kind and the one event the control plane handles, `workflow_job`.
  `manifest_form` is the page whose form POSTs it to GitHub (the one browser step).
- `check_installation` asks GitHub what an installation was granted (the access-token
  answer carries its permissions; the App's installation list its account and events) and
  names whatever is missing.
- `store_credentials` writes them to SSM under `/<name>/github/` (SecureString for the key
  and the webhook secret, Overwrite), where the control plane reads them; never Terraform.
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from runnerfleet.github.client import GitHubClient
from runnerfleet.github.permissions import (
    OwnerKind,
    missing_permissions,
    owner_kind,
    required_permissions,
)

EVENTS = ("workflow_job",)
PLACEHOLDER_WEBHOOK_URL = "https://example.invalid/runnerfleet-webhook"
APP_NAME_MAX = 34  # GitHub App names are at most 34 characters
SSM_STANDARD_MAX = 4096


def app_manifest(
    name: str,
    github_url: str,
    owner: str,
    repository: str | None,
    webhook_url: str | None,
) -> dict[str, Any]:
    """The App manifest for this fleet; without a webhook URL, a placeholder, inactive."""
    kind = owner_kind(repository)
    app_name = f"{name}-runners"[:APP_NAME_MAX]
    where = f"{owner}/{repository}" if repository else owner
    return {
        "name": app_name,
        "url": f"{github_url.rstrip('/')}/{owner}",
        "description": f"runnerfleet control plane for the self-hosted runners of {where} "
        f"(fleet {name}): registers just-in-time runners and scales on workflow_job events.",
        "public": False,
        "hook_attributes": {
            "url": webhook_url or PLACEHOLDER_WEBHOOK_URL,
            "active": webhook_url is not None,
        },
        "default_events": list(EVENTS),
        "default_permissions": required_permissions(kind),
    }


def new_app_url(github_url: str, owner: str, account_type: str = "Organization") -> str:
    """Where the manifest form posts: the org's (or the user's own) "new GitHub App" page."""
    base = github_url.rstrip("/")
    if account_type == "Organization":
        return f"{base}/organizations/{owner}/settings/apps/new"
    return f"{base}/settings/apps/new"


def manifest_form(manifest: dict[str, Any], action: str) -> str:
    """A page with one button that POSTs the manifest to GitHub, as the flow requires."""
    value = html.escape(json.dumps(manifest), quote=True)
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>Create the {html.escape(manifest['name'])} GitHub App</title></head>\n"
        "<body><h1>Create the GitHub App</h1>\n"
        "<p>Click the button, check the name, then <b>Create GitHub App</b> on GitHub.</p>\n"
        f'<form action="{html.escape(action, quote=True)}" method="post">\n'
        f'<input type="hidden" name="manifest" value="{value}">\n'
        '<input type="submit" value="Create the App on GitHub">\n</form></body></html>\n'
    )


@dataclass
class InstallationCheck:
    """What GitHub says about an installation, and what runnerfleet needs but lacks."""

    installation_id: int
    kind: OwnerKind
    account: str | None = None
    account_type: str | None = None
    permissions: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def missing(self) -> list[str]:
        return missing_permissions(self.permissions, self.kind)


def check_installation(
    client: GitHubClient, installation_id: int, owner: str, repository: str | None
) -> InstallationCheck:
    """Check the installation against what the code needs; GitHubError if GitHub refuses
    the App's credentials or does not know the installation."""
    kind = owner_kind(repository)
    check = InstallationCheck(installation_id, kind)
    check.permissions = client.installation_permissions(installation_id)
    for body in client.list_installations():
        if int(body["id"]) == installation_id:
            account = body.get("account") or {}
            check.account = str(account.get("login") or "")
            check.account_type = str(account.get("type") or body.get("target_type") or "")
            check.events = [str(e) for e in body.get("events") or []]
    where = f"{owner}/{repository}" if repository else owner
    if check.account is not None and check.account.lower() != owner.lower():
        check.problems.append(
            f"installation {installation_id} is on {check.account}, not on {owner}: install "
            f"the App on {owner} and pass that installation's id"
        )
    if check.account_type == "User" and repository is None:
        check.problems.append(
            f"{owner} is a user account: GitHub has no runners for user accounts; set "
            "[github] repository (repository runners) or use an organization"
        )
    for item in check.missing:
        perm, _, level = item.partition(": ")
        check.problems.append(
            f"missing permission {perm}: {level} (needed for {kind}-level runners on {where}); "
            "in the App's settings > Permissions & events grant it, then accept the new "
            "permissions in the installation's settings"
        )
    for event in EVENTS:
        if check.events and event not in check.events:
            check.problems.append(
                f"the App is not subscribed to the {event} event; tick it under "
                "Permissions & events > Subscribe to events"
            )
    return check


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


def parameter_names(name: str) -> dict[str, str]:
    prefix = f"/{name}/github"
    keys = ("app-id", "installation-id", "private-key", "webhook-secret")
    return {k: f"{prefix}/{k}" for k in keys}


def store_credentials(
    ssm: Any,
    name: str,
    *,
    app_id: str,
    installation_id: int,
    private_key_pem: str,
    webhook_secret: str,
    kms_key_id: str | None = None,
) -> list[str]:
    """Write the four parameters (Overwrite); return their names. Values are never logged."""
    names = parameter_names(name)
    values = {
        "app-id": (app_id, "String"),
        "installation-id": (str(installation_id), "String"),
        "private-key": (private_key_pem, "SecureString"),
        "webhook-secret": (webhook_secret, "SecureString"),
    }
    for key, (value, kind) in values.items():
        args: dict[str, Any] = {
            "Name": names[key],
            "Value": value,
            "Type": kind,
            "Overwrite": True,
            "Tier": "Advanced" if len(value) > SSM_STANDARD_MAX else "Standard",
        }
        if kind == "SecureString" and kms_key_id:
            args["KeyId"] = kms_key_id
        ssm.put_parameter(**args)
    return list(names.values())
