"""The control plane's edges as typed Protocols (the adapters implement them, fakes in tests
too): GitHub, the registrations store in SSM and the metrics publisher. The fleet adapter's
Protocol is `runnerfleet.controlplane.fleet.FleetPort`, the job table's
`runnerfleet.controlplane.job_table.JobTable`, the claims' `claims.Claims`.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any, Protocol, runtime_checkable


class GitHubPort(Protocol):
    """The GitHub calls of the reconciler and registrar (runnerfleet.github.client)."""

    def list_runners(self, owner: str, repo: str | None = None) -> Sequence[Any]: ...

    def delete_runner(self, owner: str, repo: str | None, runner_id: int) -> None: ...

    def get_job(self, owner: str, repo: str, job_id: int) -> Any: ...


class RegistrarGitHubPort(GitHubPort, Protocol):
    """What the registrar also needs: one-shot registrations."""

    def generate_jit_config(
        self,
        owner: str,
        repo: str | None,
        *,
        name: str,
        labels: list[str],
        runner_group_id: int | None = None,
        runner_group: str | None = None,
    ) -> Any: ...

    def create_registration_token(self, owner: str, repo: str | None = None) -> Any: ...


@runtime_checkable
class QueueDiscovery(Protocol):
    """GitHub's own queue (an installation's repositories -> queued runs -> their jobs, all
    conditional requests). Optional: a client without it is not asked."""

    def list_queued_jobs(
        self,
        repositories: Any = None,
        *,
        run_statuses: Sequence[str] = ("queued", "in_progress"),
        skip_runs: Container[int] = (),
    ) -> Sequence[Any]: ...


class RegistrationsPort(Protocol):
    """One-shot registrations `/<name>/runners/<instance-id>` (ssm_store.RegistrationStore)."""

    def list(self) -> Sequence[Any]: ...

    def delete(self, instance_id: str) -> bool: ...


class MetricsPort(Protocol):
    def publish_queued(self, count: int, now: float) -> bool: ...
