"""The fleet's shared vocabulary: tag keys, EC2 state sets and runner names.

Dependency-free (standard library only, Python 3.10+) so the Lambda zip, the host agent and
the CLI import the same names. Every runner of fleet `<name>` is called `<name>-runner-...`:
static hosts `<name>-runner-01..NN` (Terraform tags them), pool hosts
`<name>-runner-<pool>-<instance-id>` (the registrar names them).
"""

from __future__ import annotations

from collections.abc import Mapping

# ---- tags (docs/architecture.md "Names and tags") ----------------------------------------
FLEET_TAG = "runnerfleet:fleet"
POOL_TAG = "runnerfleet:pool"
ROLE_TAG = "runnerfleet:role"
RUNNER_NAME_TAG = "runnerfleet:runner-name"
RUNNER_ID_TAG = "runnerfleet:github-runner-id"
AGENT_STATE_TAG = "runnerfleet:agent-state"  # the host agent's state ("failed": bootstrap)
AGENT_DETAIL_TAG = "runnerfleet:agent-detail"  # the failing step
ASG_NAME_TAG = "aws:autoscaling:groupName"  # set by Auto Scaling on the instances it launches
RUNNER_ROLE = "runner"  # runnerfleet:role of runner hosts
DEFAULT_POOL = "default"

# ---- EC2 instance states -----------------------------------------------------------------
LIVE_STATES = frozenset({"pending", "running"})  # a host that is or will be serving
PRESENT_STATES = frozenset({"pending", "running", "stopping", "stopped"})  # not going away
GONE_STATES = frozenset({"shutting-down", "terminated"})
SEEN_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")  # describe filter


# ---- runner names ------------------------------------------------------------------------
def runner_prefix(fleet: str) -> str:
    """The prefix every runner name of this fleet starts with (`<name>-runner-`)."""
    return f"{fleet}-runner-"


def is_fleet_runner(fleet: str, runner_name: str) -> bool:
    """True for a runner this fleet registered (anything else in the org is left alone)."""
    return runner_name.startswith(runner_prefix(fleet))


def static_runner_name(fleet: str, index: int) -> str:
    """The name of static host number `index` (1-based): `<name>-runner-01`."""
    return f"{runner_prefix(fleet)}{index:02d}"


def pool_runner_name(fleet: str, pool: str, instance_id: str) -> str:
    """The name a pool host's runner gets: `<name>-runner-<pool>-<instance-id>`."""
    return f"{runner_prefix(fleet)}{pool}-{instance_id}"


def runner_name_for(tags: Mapping[str, str], instance_id: str, fleet: str) -> str:
    """A host's runner name: its `runnerfleet:runner-name` tag (static hosts carry it), else
    the pool name derived from its id."""
    tagged = tags.get(RUNNER_NAME_TAG)
    if tagged:
        return tagged
    return pool_runner_name(fleet, tags.get(POOL_TAG, DEFAULT_POOL), instance_id)


def instance_of(fleet: str, runner_name: str) -> str | None:
    """The instance id a pool runner's name ends with (`...-i-0abc`), else None (static)."""
    if not is_fleet_runner(fleet, runner_name):
        return None
    head, sep, tail = runner_name.rpartition("-i-")
    if not sep or not head or not tail or not all(c in "0123456789abcdef" for c in tail):
        return None
    return f"i-{tail}"
