"""The composition root: `compose(settings, clients)` builds the control plane's parts.

Every way the control plane runs (the three Lambda functions, `runnerfleet serve`,
`reconcile`, `registrar run-once`, the sandbox) builds its pieces here and nowhere else:

- `ControlPlane.processor`: the webhook processor (job table, fleet)
- `ControlPlane.reconciler`: the periodic pass (adds GitHub, the registrations store and the
  `QueuedJobs` metric)
- `ControlPlane.registrar`: one registration per runner instance

Parts are built on first use and then shared, so the webhook function never reads GitHub
credentials, and the GitHub client (with its cached installation token) is one per process.
`clients(service)` returns a boto3 client; each service's client is made once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from runnerfleet.controlplane.settings import ControlPlaneSettings

if TYPE_CHECKING:
    from runnerfleet.controlplane.claims import Claims
    from runnerfleet.controlplane.fleet import Fleet
    from runnerfleet.controlplane.job_table import JobTable
    from runnerfleet.controlplane.metrics import Metrics
    from runnerfleet.controlplane.reconciler import Reconciler
    from runnerfleet.controlplane.registrar import Registrar
    from runnerfleet.controlplane.ssm_store import RegistrationStore
    from runnerfleet.controlplane.webhook_handler import WebhookProcessor

ClientFactory = Callable[[str], Any]
log = logging.getLogger(__name__)


def boto3_clients(**session_args: Any) -> ClientFactory:
    """A client factory over one boto3 session (the Lambda functions)."""
    import boto3

    session = boto3.session.Session(**session_args)

    def client(service: str) -> Any:
        return session.client(service)  # type: ignore[call-overload]

    return client


def deployed_table(dynamodb: Any, name: str) -> str | None:
    """The control plane's table when it exists on the target (CLI, sandbox), else None."""
    from botocore.exceptions import ClientError

    from runnerfleet.controlplane.settings import table_name

    table = table_name(name)
    try:
        dynamodb.describe_table(TableName=table)
    except ClientError:
        return None
    return table


@dataclass
class ControlPlane:
    """The control plane's parts, built lazily from one settings object (module docstring)."""

    settings: ControlPlaneSettings
    clients: ClientFactory
    github_client: Any = None
    webhook_secret: str | None = field(default=None, repr=False)
    clock: Callable[[], float] = time.time
    _made: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self.clients(service)
        return self._made[service]

    # ---- stores --------------------------------------------------------------------------
    @cached_property
    def jobs(self) -> JobTable:
        """Jobs, pool counters, delivery ids and cooldowns (runnerfleet.controlplane.job_table)."""
        from runnerfleet.controlplane.job_table import DynamoJobTable, MemoryJobTable

        if self.settings.table:
            return DynamoJobTable(self.client("dynamodb"), self.settings.table)
        log.warning("no control plane table: the job table is per process")
        return MemoryJobTable()

    @cached_property
    def claims(self) -> Claims:
        from runnerfleet.controlplane.claims import DynamoClaims, MemoryClaims

        if self.settings.table:
            return DynamoClaims(self.client("dynamodb"), self.settings.table, clock=self.clock)
        return MemoryClaims(clock=self.clock)

    @cached_property
    def registrations(self) -> RegistrationStore:
        from runnerfleet.controlplane.ssm_store import RegistrationStore

        s = self.settings
        return RegistrationStore(self.client("ssm"), f"/{s.name}/runners", s.kms_key_id)

    # ---- adapters ------------------------------------------------------------------------
    @cached_property
    def fleet(self) -> Fleet:
        from runnerfleet.controlplane.fleet import Fleet

        return Fleet(self.settings.name, self.client("autoscaling"), self.client("ec2"))

    @cached_property
    def metrics(self) -> Metrics:
        from runnerfleet.controlplane.metrics import Metrics

        return Metrics(self.client("cloudwatch"), self.settings.name)

    @cached_property
    def github(self) -> Any:
        """The GitHub client: the one given, else credentials from SSM `/<name>/github/*` or
        the Secrets Manager secret RUNNERFLEET_GITHUB_SECRET_ID."""
        if self.github_client is not None:
            return self.github_client
        from runnerfleet.controlplane.ssm_store import load_github_auth
        from runnerfleet.github.client import GitHubClient

        s = self.settings
        auth = load_github_auth(
            ssm=self.client("ssm"),
            name=s.name,
            secrets=self.client("secretsmanager") if s.github_secret_id else None,
            secret_id=s.github_secret_id,
        )
        return GitHubClient(s.github_api_url, auth)

    def _webhook_secret(self) -> str:
        if self.webhook_secret:
            return self.webhook_secret
        param = self.settings.webhook_secret_parameter
        got = self.client("ssm").get_parameter(Name=param, WithDecryption=True)
        return str(got["Parameter"]["Value"])

    # ---- the parts -----------------------------------------------------------------------
    @cached_property
    def processor(self) -> WebhookProcessor:
        from runnerfleet.controlplane.webhook_handler import WebhookProcessor

        return WebhookProcessor(
            secret=self._webhook_secret(),
            jobs=self.jobs,
            pools=self.settings.pools(),
            fleet=self.fleet,
            clock=self.clock,
        )

    @cached_property
    def reconciler(self) -> Reconciler:
        from runnerfleet.controlplane.reconciler import Reconciler, ReconcilerSettings
        from runnerfleet.controlplane.scaler import ScalerSettings

        s = self.settings
        s.require_github()
        return Reconciler(
            settings=ReconcilerSettings(
                s.name,
                boot_timeout=s.boot_timeout,
                queue_timeout=s.job_recheck_seconds,
                github_sync_seconds=s.github_sync_seconds,
            ),
            scaler_settings=ScalerSettings(idle_grace=s.idle_grace),
            pools=s.pools(),
            fleet=self.fleet,
            github=self.github,
            owner=s.github_owner,
            repository=s.github_repository,
            registrations=self.registrations,
            jobs=self.jobs,
            clock=self.clock,
            metrics=self.metrics,
        )

    @cached_property
    def registrar(self) -> Registrar:
        from runnerfleet.controlplane.registrar import Registrar

        return Registrar(
            settings=self.settings.registrar_settings(),
            ec2=self.client("ec2"),
            ssm=self.client("ssm"),
            github=self.github,
            claims=self.claims,
            autoscaling=self.client("autoscaling"),
            clock=self.clock,
        )


def compose(
    settings: ControlPlaneSettings,
    clients: ClientFactory,
    *,
    github: Any = None,
    webhook_secret: str | None = None,
    clock: Callable[[], float] = time.time,
) -> ControlPlane:
    """The control plane for these settings over `clients` (module docstring). `github`: a
    ready GitHub client (tests, the sandbox); `webhook_secret`: the secret itself instead of
    the SSM parameter (`runnerfleet serve` with the secret in the environment)."""
    return ControlPlane(settings, clients, github, webhook_secret, clock)
