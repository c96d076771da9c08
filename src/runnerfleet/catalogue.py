"""What AWS knows: the region names and the EC2 instance types a config may name.

Regions come from botocore's endpoint data (every partition: aws, aws-cn, aws-us-gov, ...).
Instance types come from `data/ec2_instance_types.json`, the `InstanceType` enum of
botocore's EC2 service model written out once (loading the full EC2 model costs a second;
the list is 20 kB). Refresh it with `python -m runnerfleet.catalogue --refresh` after a
botocore upgrade; the cost module's price table can reuse `instance_types()`.

A name that is not known gets a "did you mean" suggestion (difflib).
"""

from __future__ import annotations

import difflib
import functools
import json
import sys
from pathlib import Path

INSTANCE_TYPES_FILE = Path(__file__).parent / "data" / "ec2_instance_types.json"


@functools.cache
def regions() -> frozenset[str]:
    """Every region name in botocore's endpoint data, across all partitions."""
    import botocore.loaders

    data = botocore.loaders.create_loader().load_data("endpoints")
    return frozenset(r for p in data["partitions"] for r in p.get("regions", {}))


@functools.cache
def instance_types() -> frozenset[str]:
    """Every EC2 instance type (from the shipped list)."""
    data = json.loads(INSTANCE_TYPES_FILE.read_text(encoding="utf-8"))
    return frozenset(data["instance_types"])


def suggest(value: str, known: frozenset[str] | set[str]) -> str:
    """`; did you mean 'x'?` for the closest known name, or '' when nothing is close."""
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def refresh(path: Path = INSTANCE_TYPES_FILE) -> int:
    """Rewrite the instance-type list from the installed botocore's EC2 model."""
    import botocore
    import botocore.loaders

    model = botocore.loaders.create_loader().load_service_model("ec2", "service-2")
    types = sorted(model["shapes"]["InstanceType"]["enum"])
    source = f"botocore {botocore.__version__}, ec2 service model, shape InstanceType"
    path.write_text(
        json.dumps({"source": source, "instance_types": types}, indent=0) + "\n", encoding="utf-8"
    )
    return len(types)


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    if sys.argv[1:] == ["--refresh"]:
        print(f"wrote {refresh()} instance types to {INSTANCE_TYPES_FILE}")
    else:
        print("usage: python -m runnerfleet.catalogue --refresh", file=sys.stderr)
        sys.exit(2)
