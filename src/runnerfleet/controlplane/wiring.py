"""Assembles a Registrar from settings and AWS clients (Lambda, CLI and sandbox share it).

The GitHub client is built once per process and reused, so its App installation token is
fetched once per hour per process (cached until a minute before it expires), not per event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runnerfleet.controlplane.claims import Claims, DynamoClaims, MemoryClaims
from runnerfleet.controlplane.registrar import Registrar, RegistrarSettings
from runnerfleet.controlplane.ssm_store import load_github_auth

ClientFactory = Callable[[str], Any]


def claims_for(client: ClientFactory, table: str | None) -> Claims:
    """DynamoDB claims when the control plane's table is known, else in-process claims."""
    if table:
        return DynamoClaims(client("dynamodb"), table)
    return MemoryClaims()


def build_registrar(
    settings: RegistrarSettings,
    client: ClientFactory,
    *,
    claims_table: str | None = None,
    github_secret_id: str | None = None,
    github: Any = None,
) -> Registrar:
    """A Registrar wired to AWS through `client(service)`; GitHub credentials from SSM or
    Secrets Manager unless a ready `github` client is given."""
    ssm = client("ssm")
    if github is None:
        from runnerfleet.github.client import GitHubClient

        auth = load_github_auth(
            ssm=ssm,
            name=settings.name,
            secrets=client("secretsmanager") if github_secret_id else None,
            secret_id=github_secret_id,
        )
        github = GitHubClient(settings.api_url, auth)
    return Registrar(
        settings=settings,
        ec2=client("ec2"),
        ssm=ssm,
        github=github,
        claims=claims_for(client, claims_table),
        autoscaling=client("autoscaling"),
    )
