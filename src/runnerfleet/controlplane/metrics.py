"""CloudWatch metrics of the control plane: the job queue length.

`QueuedJobs` in namespace `runnerfleet` with dimension `Fleet=<name>` is what the monitoring
module's dashboard widget and queue-length alarm read (infra/modules/monitoring). The value
counts the jobs queued for this fleet's pools (GitHub-hosted jobs are not recorded at all);
the reconcile pass publishes it once a minute, from the jobs it read (never the webhook path,
whose calls before the launch call stay at two).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

NAMESPACE = "runnerfleet"
QUEUED_JOBS = "QueuedJobs"
log = logging.getLogger(__name__)


def queued_jobs_datum(fleet: str, count: int, now: float) -> dict[str, Any]:
    """One PutMetricData entry (pure, for tests and batching)."""
    return {
        "MetricName": QUEUED_JOBS,
        "Dimensions": [{"Name": "Fleet", "Value": fleet}],
        "Timestamp": datetime.fromtimestamp(now, UTC),
        "Value": float(count),
        "Unit": "Count",
    }


@dataclass
class Metrics:
    """Publishes through an injected boto3 `cloudwatch` client."""

    cloudwatch: Any
    fleet: str

    def publish_queued(self, count: int, now: float) -> bool:
        """Put the current queue length; False (logged, not raised) when CloudWatch fails:
        a metric must never fail a webhook."""
        try:
            self.cloudwatch.put_metric_data(
                Namespace=NAMESPACE, MetricData=[queued_jobs_datum(self.fleet, count, now)]
            )
        except Exception as exc:  # metrics are best effort
            log.warning("could not publish %s: %s", QUEUED_JOBS, type(exc).__name__)
            return False
        return True
