"""The Terraform state backend: an S3 bucket plus a DynamoDB lock table, made and kept by boto3.

Library only (boto3 clients are passed in, nothing is printed):

- `bootstrap` creates the bucket and table or brings them up to standard, idempotently;
- `list_versions` and `restore` read and roll back the state object's versions;
- `lock_info` and `unlock` inspect and remove Terraform's state locks.
"""

from runnerfleet.backend.bootstrap import bootstrap, ensure_bucket, ensure_table, tls_statement
from runnerfleet.backend.locks import hold_lock, lock_info, unlock
from runnerfleet.backend.model import BackendError, Change, LockInfo, LockStatus, StateVersion
from runnerfleet.backend.versions import RestoreResult, list_versions, restore

__all__ = [
    "BackendError",
    "Change",
    "LockInfo",
    "LockStatus",
    "RestoreResult",
    "StateVersion",
    "bootstrap",
    "ensure_bucket",
    "ensure_table",
    "hold_lock",
    "list_versions",
    "lock_info",
    "restore",
    "tls_statement",
    "unlock",
]
