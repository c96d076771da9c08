"""Published SHA-256 checksums of the GitHub Actions runner's linux-x64 tarballs.

The hosts install the runner at a pinned version and refuse a tarball whose digest differs
from the one published for that version (fail closed). The values come from the actions/runner
release notes ("SHA-256 Checksums" section) and GitHub's "new self-hosted runner" page.
"""

from __future__ import annotations

import re

# version -> sha256 of actions-runner-linux-x64-<version>.tar.gz
CHECKSUMS: dict[str, str] = {
    "2.329.0": "194f1e1e4bd02f80b7e9633fc546084d8d4e19f3928a324d512ea53430102e1d",
}

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class UnknownRunnerVersion(LookupError):
    """No published checksum is recorded for the requested runner version."""


def tarball_name(version: str, arch: str = "x64") -> str:
    """The release asset name for a runner version."""
    return f"actions-runner-linux-{arch}-{version}.tar.gz"


def tarball_url(version: str, arch: str = "x64") -> str:
    """The download URL of a runner release asset."""
    return (
        f"https://github.com/actions/runner/releases/download/v{version}/"
        f"{tarball_name(version, arch)}"
    )


def checksum(version: str) -> str:
    """The published SHA-256 of the linux-x64 tarball of `version`.

    Raises UnknownRunnerVersion naming the versions that are known and how to add one.
    """
    try:
        digest = CHECKSUMS[version]
    except KeyError:
        known = ", ".join(sorted(CHECKSUMS))
        raise UnknownRunnerVersion(
            f"no published SHA-256 is recorded for actions runner {version} (known: {known}); "
            "set runners.runner_version to a known version, or add the checksum from the "
            f"release notes of v{version} to runnerfleet.agent.runner_release.CHECKSUMS"
        ) from None
    assert _SHA256_RE.match(digest)
    return digest
