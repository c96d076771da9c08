#!/usr/bin/env python3
"""Generate and check the inputs/outputs tables in each Terraform module's README.

The tables sit between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->` in
`infra/modules/<module>/README.md` and are rendered from the module's `variable` and
`output` blocks (all top-level `*.tf` files of the module; by convention `variables.tf`
and `outputs.tf`).

    python scripts/module_docs.py            # rewrite the tables of every module
    python scripts/module_docs.py --check    # exit 1 and list the drift, change nothing
    python scripts/module_docs.py infra/modules/monitoring   # only these modules

The HCL reader here is deliberately small: it understands blocks, attributes, strings
with `${...}` templates, heredocs and comments well enough to take the raw text of each
attribute's expression. It does not evaluate anything; types and defaults are shown as
written (whitespace normalized).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
REPO_ROOT = Path(__file__).resolve().parent.parent
MODULES_DIR = REPO_ROOT / "infra" / "modules"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)[ \t]*\r?\n")
_OPEN = "([{"
_CLOSE = ")]}"


class HclError(ValueError):
    """The file is not HCL this reader understands; the message names file and offset."""


# ---- a small HCL reader -----------------------------------------------------------------


@dataclass
class Block:
    """One HCL block: `type "label" ... { attributes and nested blocks }`."""

    type: str
    labels: list[str]
    attrs: dict[str, str] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)


def _skip_string(text: str, i: int) -> int:
    """`text[i]` is an opening quote; return the index after the closing quote."""
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "\n":
            raise HclError(f"newline inside a quoted string at offset {i}")
        if text.startswith(("${", "%{"), i):
            i = _skip_template(text, i + 2)
            continue
        i += 1
    raise HclError("unterminated string")


def _skip_template(text: str, i: int) -> int:
    """Inside `${ ... }` (i after the opening brace); return the index after its `}`."""
    depth = 1
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise HclError("unterminated template interpolation")


def _skip_heredoc(text: str, i: int) -> tuple[int, str]:
    """`text[i:]` starts a heredoc; return (index after its closing marker line, content)."""
    m = _HEREDOC.match(text, i)
    if not m:
        raise HclError(f"malformed heredoc at offset {i}")
    marker = m.group(2)
    end = re.compile(rf"^[ \t]*{re.escape(marker)}[ \t]*$", re.M).search(text, m.end())
    if not end:
        raise HclError(f"heredoc {marker} at offset {i} is never closed")
    body = text[m.end() : end.start()]
    if m.group(1) == "-":
        lines = body.split("\n")
        indents = [len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()]
        cut = min(indents, default=0)
        body = "\n".join(ln[cut:] for ln in lines)
    return end.end(), body


def _skip_comment(text: str, i: int) -> int | None:
    """If a comment starts at i, return the index just after it (before the newline)."""
    if text.startswith("#", i) or text.startswith("//", i):
        nl = text.find("\n", i)
        return len(text) if nl < 0 else nl
    if text.startswith("/*", i):
        close = text.find("*/", i + 2)
        if close < 0:
            raise HclError(f"unterminated /* comment at offset {i}")
        return close + 2
    return None


def _expression_end(text: str, i: int) -> int:
    """Return where the expression starting at i ends: a newline, comment or unmatched
    closing bracket at nesting depth 0 (newlines inside brackets continue it)."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if text.startswith("<<", i) and _HEREDOC.match(text, i):
            i, _ = _skip_heredoc(text, i)
            continue
        skipped = _skip_comment(text, i)
        if skipped is not None:
            if depth == 0:
                return i
            i = skipped
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            if depth == 0:
                return i
            depth -= 1
        elif c == "\n" and depth == 0:
            return i
        i += 1
    if depth:
        raise HclError("unbalanced brackets at end of file")
    return i


def _skip_space(text: str, i: int, newlines: bool) -> int:
    while i < len(text):
        if text[i] in " \t\r" or (newlines and text[i] == "\n"):
            i += 1
            continue
        skipped = _skip_comment(text, i)
        if skipped is not None and newlines:
            i = skipped
            continue
        break
    return i


def _string_value(raw: str) -> str:
    """Decode a quoted string literal or heredoc; other expressions come back as written."""
    raw = raw.strip()
    m = _HEREDOC.match(raw)
    if m:
        return _skip_heredoc(raw + "\n", 0)[1].strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        out, i, body = [], 0, raw[1:-1]
        escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body):
                out.append(escapes.get(body[i + 1], body[i : i + 2]))
                i += 2
            else:
                out.append(body[i])
                i += 1
        return "".join(out)
    return raw


def _parse_body(text: str, i: int, closing: bool) -> tuple[dict[str, str], list[Block], int]:
    attrs: dict[str, str] = {}
    blocks: list[Block] = []
    while True:
        i = _skip_space(text, i, newlines=True)
        if i >= len(text):
            if closing:
                raise HclError("missing closing brace at end of file")
            return attrs, blocks, i
        if text[i] == "}":
            if not closing:
                raise HclError(f"unexpected '}}' at offset {i}")
            return attrs, blocks, i + 1
        m = _IDENT.match(text, i)
        if not m:
            raise HclError(
                f"expected an attribute or block name at offset {i}: {text[i : i + 30]!r}"
            )
        name = m.group(0)
        i = _skip_space(text, m.end(), newlines=False)
        if text.startswith("=", i) and not text.startswith("==", i):
            end = _expression_end(text, i + 1)
            attrs[name] = text[i + 1 : end].strip()
            i = end
            continue
        labels: list[str] = []
        while i < len(text) and text[i] != "{":
            if text[i] == '"':
                end = _skip_string(text, i)
                labels.append(_string_value(text[i:end]))
                i = end
            else:
                lm = _IDENT.match(text, i)
                if not lm:
                    raise HclError(f"expected a block label or '{{' at offset {i}")
                labels.append(lm.group(0))
                i = lm.end()
            i = _skip_space(text, i, newlines=False)
        if i >= len(text):
            raise HclError(f"block {name} has no body")
        sub_attrs, sub_blocks, i = _parse_body(text, i + 1, closing=True)
        blocks.append(Block(name, labels, sub_attrs, sub_blocks))


def parse_hcl(text: str) -> list[Block]:
    """Parse an HCL file into its top-level blocks (top-level attributes are not HCL config)."""
    _, blocks, _ = _parse_body(text, 0, closing=False)
    return blocks


# ---- module documentation model ---------------------------------------------------------


@dataclass(frozen=True)
class Input:
    name: str
    description: str
    type: str
    default: str | None  # raw expression; None when the variable has no default

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Output:
    name: str
    description: str


def strip_comments(expr: str) -> str:
    """Remove comments from an expression's text (strings and heredocs are left alone)."""
    out: list[str] = []
    i = start = 0
    while i < len(expr):
        if expr[i] == '"':
            i = _skip_string(expr, i)
            continue
        if expr.startswith("<<", i) and _HEREDOC.match(expr, i):
            i, _ = _skip_heredoc(expr, i)
            continue
        skipped = _skip_comment(expr, i)
        if skipped is not None:
            out.append(expr[start:i])
            i = start = skipped
            continue
        i += 1
    out.append(expr[start:])
    return "".join(out)


def normalize(expr: str) -> str:
    """Whitespace-insensitive form of an expression, for display and comparison."""
    out = re.sub(r"\s+", " ", expr.strip())
    out = re.sub(r"([(\[{]) ", r"\1", out)
    out = re.sub(r",? ([)\]}])", r"\1", out)
    return re.sub(r",([)\]}])", r"\1", out)


def read_module(module_dir: Path) -> tuple[list[Input], list[Output]]:
    """Inputs and outputs of a module, in the order they are declared (files by name)."""
    inputs: list[Input] = []
    outputs: list[Output] = []
    for tf in sorted(module_dir.glob("*.tf")):
        try:
            blocks = parse_hcl(tf.read_text(encoding="utf-8"))
        except HclError as exc:
            raise HclError(f"{tf}: {exc}") from None
        for b in blocks:
            if b.type == "variable" and b.labels:
                default = b.attrs.get("default")
                inputs.append(
                    Input(
                        name=b.labels[0],
                        description=_string_value(b.attrs.get("description", '""')),
                        type=normalize(strip_comments(b.attrs.get("type", "any"))),
                        default=None if default is None else normalize(strip_comments(default)),
                    )
                )
            elif b.type == "output" and b.labels:
                outputs.append(Output(b.labels[0], _string_value(b.attrs.get("description", '""'))))
    return inputs, outputs


def _cell(text: str, html: bool = True) -> str:
    out = re.sub(r"\s*\n\s*", " ", text).replace("|", "\\|").strip()
    return out.replace("<", "&lt;").replace(">", "&gt;") if html else out


def _code(text: str) -> str:
    return "`" + _cell(text, html=False) + "`"


def render_tables(module_dir: Path) -> str:
    """The generated README section (markers included)."""
    inputs, outputs = read_module(module_dir)
    lines = [BEGIN, "## Inputs", ""]
    if inputs:
        lines += ["| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
        for v in inputs:
            default = "n/a" if v.default is None else _code(v.default)
            lines.append(
                f"| `{v.name}` | {_cell(v.description)} | {_code(v.type)} | {default} "
                f"| {'yes' if v.required else 'no'} |"
            )
    else:
        lines.append("No inputs.")
    lines += ["", "## Outputs", ""]
    if outputs:
        lines += ["| Name | Description |", "|---|---|"]
        lines += [f"| `{o.name}` | {_cell(o.description)} |" for o in outputs]
    else:
        lines.append("No outputs.")
    lines.append(END)
    return "\n".join(lines) + "\n"


def update_readme(module_dir: Path) -> bool:
    """Write the tables into the module README (creating it if absent). True if changed."""
    readme = module_dir / "README.md"
    tables = render_tables(module_dir)
    if readme.exists():
        old = readme.read_text(encoding="utf-8")
        if BEGIN in old and END in old:
            head, rest = old.split(BEGIN, 1)
            tail = rest.split(END, 1)[1].lstrip("\n")
            new = head + tables + ("\n" + tail if tail else "")
        else:
            new = old.rstrip("\n") + "\n\n" + tables
    else:
        new = f"# {module_dir.name} module\n\n" + tables
    if readme.exists() and readme.read_text(encoding="utf-8") == new:
        return False
    readme.write_text(new, encoding="utf-8")
    return True


# ---- drift check ------------------------------------------------------------------------


def _split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [c.strip().replace("\\|", "|") for c in cells]


def _uncode(cell: str) -> str:
    """The value of a cell: its first `code span` if it has one (notes may follow)."""
    cell = cell.strip()
    m = re.search(r"(`+)(.+?)\1", cell)
    return m.group(2).strip() if m else cell


# Default cells that mean "no default" in hand-written tables.
_NO_DEFAULT = {"n/a", "(required)", "required", "-", ""}


def read_readme_tables(text: str) -> tuple[dict[str, dict[str, str]], set[str]]:
    """README markdown -> ({input name: {column: cell}}, {output names}).

    Reads every table under a `## Inputs` / `## Outputs` heading; column names come from
    the header row (Name, Type, Default, Required), so hand-written tables work too.
    """
    inputs: dict[str, dict[str, str]] = {}
    outputs: set[str] = set()
    section = ""
    header: list[str] = []
    for line in text.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if heading:
            section = heading.group(1).strip().lower()
            header = []
            continue
        if not line.lstrip().startswith("|") or section not in ("inputs", "outputs"):
            header = [] if not line.strip() else header
            continue
        cells = _split_row(line)
        if all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
            continue
        if not header:
            header = [c.lower() for c in cells]
            continue
        row = dict(zip(header, cells, strict=False))
        name = _uncode(row.get("name", ""))
        name = re.sub(r"^<a name=\"[^\"]*\"></a>\s*", "", name)
        name = _uncode(re.sub(r"^\[([^\]]+)\]\([^)]*\)$", r"\1", name))
        if not name:
            continue
        if section == "inputs":
            inputs[name] = row
        else:
            outputs.add(name)
    return inputs, outputs


def check_module(module_dir: Path) -> list[str]:
    """Drift between README tables and the module's .tf files, one message per problem."""
    readme = module_dir / "README.md"
    rel = module_dir.relative_to(REPO_ROOT) if module_dir.is_relative_to(REPO_ROOT) else module_dir
    if not readme.exists():
        return [f"{rel}: README.md is missing; run `python scripts/module_docs.py {rel}`"]
    inputs, outputs = read_module(module_dir)
    doc_inputs, doc_outputs = read_readme_tables(readme.read_text(encoding="utf-8"))
    problems: list[str] = []
    for v in inputs:
        row = doc_inputs.get(v.name)
        if row is None:
            problems.append(f"{rel}: input {v.name!r} is not in the README's Inputs table")
            continue
        if normalize(_uncode(row.get("type", ""))) != v.type:
            problems.append(
                f"{rel}: input {v.name!r} type is {v.type!r} in the .tf files but "
                f"{_uncode(row.get('type', ''))!r} in the README"
            )
        doc_default = _uncode(row.get("default", ""))
        no_default = doc_default.lower() in _NO_DEFAULT and "`" not in row.get("default", "")
        if v.default is None and not no_default:
            problems.append(
                f"{rel}: input {v.name!r} has no default in the .tf files but the README "
                f"shows {doc_default!r}"
            )
        elif v.default is not None and (no_default or normalize(doc_default) != v.default):
            problems.append(
                f"{rel}: input {v.name!r} default is {v.default!r} in the .tf files but "
                f"{doc_default or '(empty)'!r} in the README"
            )
        # A Required column must agree; without one, the Default cell carries it.
        doc_required = row.get("required", "yes" if no_default else "no").strip().lower()
        if doc_required not in ("yes", "no"):
            doc_required = "yes" if doc_required in ("true", "required", "✓", "x") else "no"
        if doc_required != ("yes" if v.required else "no"):
            problems.append(
                f"{rel}: input {v.name!r} is {'required' if v.required else 'optional'} but "
                f"the README says required={doc_required or '(empty)'!r}"
            )
    names = {v.name for v in inputs}
    problems += [
        f"{rel}: README lists input {n!r}, which no variable block declares"
        for n in sorted(set(doc_inputs) - names)
    ]
    out_names = {o.name for o in outputs}
    problems += [
        f"{rel}: output {n!r} is not in the README's Outputs table"
        for n in sorted(out_names - doc_outputs)
    ]
    problems += [
        f"{rel}: README lists output {n!r}, which no output block declares"
        for n in sorted(doc_outputs - out_names)
    ]
    return problems


def module_dirs(root: Path = MODULES_DIR) -> list[Path]:
    """Every module directory (one with at least one .tf file) directly under root."""
    return sorted(d for d in root.iterdir() if d.is_dir() and any(d.glob("*.tf")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report drift, change nothing")
    parser.add_argument("modules", nargs="*", type=Path, help="module dirs (default: all)")
    args = parser.parse_args(argv)
    dirs = [m.resolve() for m in args.modules] or module_dirs()
    problems: list[str] = []
    for d in dirs:
        try:
            if args.check:
                problems += check_module(d)
            elif update_readme(d):
                print(f"updated {d / 'README.md'}")
        except HclError as exc:
            problems.append(str(exc))
    for p in problems:
        print(p, file=sys.stderr)
    if problems and args.check:
        print("fix: python scripts/module_docs.py (rewrites the tables)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
