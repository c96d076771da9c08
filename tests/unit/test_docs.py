"""README's CLI table and the Typer app agree: every documented command exists and every
registered command is documented (as sqlite-utils' tests/test_docs.py does for its CLI)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from runnerfleet.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\|\s*`runnerfleet ([^`]*)`\s*\|")
WORD = re.compile(r"[a-z][a-z0-9-]*")


def registered(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every leaf command's full path, e.g. `state versions`."""
    subs = getattr(command, "commands", None)
    if subs:
        for name, sub in subs.items():
            if not getattr(sub, "hidden", False):
                yield from registered(sub, (*prefix, name))
    else:
        yield " ".join(prefix)


def documented(readme: str) -> list[str]:
    """The command path of each CLI-table row: its leading words before any flag/argument."""
    out = []
    for line in readme.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        words = []
        for token in m.group(1).split():
            if not WORD.fullmatch(token):
                break
            words.append(token)
        out.append(" ".join(words))
    return out


def test_every_registered_command_is_in_the_readme_table() -> None:
    commands = set(registered(typer.main.get_command(app)))
    missing = sorted(commands - set(documented(README.read_text(encoding="utf-8"))))
    assert not missing, f"add a row to README.md's CLI table for: {missing}"


def test_every_command_in_the_readme_table_exists() -> None:
    commands = set(registered(typer.main.get_command(app)))
    rows = documented(README.read_text(encoding="utf-8"))
    assert rows, "README.md has no CLI table rows of the form | `runnerfleet ...` |"
    unknown = sorted(set(rows) - commands)
    assert not unknown, f"README.md documents commands that do not exist: {unknown}"


def test_the_parser_reads_paths_and_stops_at_flags() -> None:
    text = "| `runnerfleet state restore ID` | x |\n| `runnerfleet up [--yes]` | y |\n"
    assert documented(text) == ["state restore", "up"]
