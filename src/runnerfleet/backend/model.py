"""Value types of the state backend: changes made, state versions, lock holders, errors."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


class BackendError(Exception):
    """The state backend cannot be used or changed as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Change:
    """One thing `bootstrap` created or changed, e.g. `s3://b: versioning Suspended -> Enabled`."""

    resource: str
    action: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.resource}: {self.action}" + (f" ({self.detail})" if self.detail else "")

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class StateVersion:
    """One stored version of the state object."""

    version_id: str
    last_modified: datetime
    size: int
    is_latest: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "version_id": self.version_id,
            "last_modified": self.last_modified.isoformat(),
            "size": self.size,
            "is_latest": self.is_latest,
        }


@dataclass(frozen=True)
class LockInfo:
    """Terraform's lock record (`statemgr.LockInfo`), as stored in DynamoDB or the S3 lockfile."""

    id: str
    operation: str = ""
    who: str = ""
    version: str = ""
    created: str = ""
    path: str = ""
    info: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str | bytes) -> LockInfo:
        """Parse Terraform's lock JSON; an unreadable record still yields a LockInfo."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            return cls(id="", info="(unreadable lock record)", raw={})
        if not isinstance(data, dict):
            return cls(id="", info="(unreadable lock record)", raw={})
        return cls(
            id=str(data.get("ID", "")),
            operation=str(data.get("Operation", "")),
            who=str(data.get("Who", "")),
            version=str(data.get("Version", "")),
            created=str(data.get("Created", "")),
            path=str(data.get("Path", "")),
            info=str(data.get("Info", "")),
            raw=data,
        )

    def to_json(self) -> str:
        """Terraform's field names, so Terraform can read a lock that runnerfleet wrote."""
        return json.dumps(
            {
                "ID": self.id,
                "Operation": self.operation,
                "Info": self.info,
                "Who": self.who,
                "Version": self.version,
                "Created": self.created,
                "Path": self.path,
            }
        )

    def describe(self) -> str:
        """One line naming the holder, for error messages."""
        parts = [f"ID {self.id or '?'}"]
        if self.who:
            parts.append(f"held by {self.who}")
        if self.operation:
            parts.append(f"for {self.operation}")
        if self.created:
            parts.append(f"since {self.created}")
        if self.version:
            parts.append(f"(Terraform {self.version})")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "operation": self.operation,
            "who": self.who,
            "version": self.version,
            "created": self.created,
            "path": self.path,
            "info": self.info,
        }


@dataclass(frozen=True)
class LockStatus:
    """Who holds the state lock, in each place Terraform keeps one."""

    dynamodb: LockInfo | None = None
    s3: LockInfo | None = None

    @property
    def held(self) -> bool:
        return self.dynamodb is not None or self.s3 is not None

    def holders(self) -> list[tuple[str, LockInfo]]:
        out: list[tuple[str, LockInfo]] = []
        if self.dynamodb is not None:
            out.append(("dynamodb", self.dynamodb))
        if self.s3 is not None:
            out.append(("s3", self.s3))
        return out

    def describe(self) -> str:
        if not self.held:
            return "no lock is held"
        return "; ".join(f"{where} lock {info.describe()}" for where, info in self.holders())

    def as_dict(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "dynamodb": self.dynamodb.as_dict() if self.dynamodb else None,
            "s3": self.s3.as_dict() if self.s3 else None,
        }
