"""Shared CLI output helpers: Rich consoles, JSON output, exit codes, secret redaction."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from runnerfleet.redaction import redact

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_CHANGES = 3


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    console(stderr=True).print(f"[bold red]error:[/] {escape(redact(message))}", markup=True)
    raise typer.Exit(code)


__all__ = ["EXIT_CHANGES", "EXIT_CONFIG", "EXIT_FAILED", "EXIT_OK", "redact"]
