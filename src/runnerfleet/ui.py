"""Shared CLI output helpers: Rich consoles, JSON output, exit codes, secret redaction."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_CHANGES = 3

# Shapes of secrets that must never reach a terminal or a log line.
_SECRET_PATTERNS = [
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)(aws_secret_access_key|secret|token|password|jitconfig)(\s*[=:]\s*)\S+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # JWTs
]


def redact(text: str) -> str:
    """Replace secret-shaped substrings with `***`."""
    for pat in _SECRET_PATTERNS:
        if pat.groups >= 2:
            text = pat.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
        else:
            text = pat.sub("***", text)
    return text


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    console(stderr=True).print(f"[bold red]error:[/] {redact(message)}", markup=True)
    raise typer.Exit(code)
