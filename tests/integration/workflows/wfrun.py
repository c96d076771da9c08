"""Run a GitHub Actions job's steps locally, the way a runner would, for tests.

- `run:` steps run in order with `bash --noprofile --norc -eo pipefail` (GitHub's default
  shell on Linux), with the workflow's, the job's and the step's `env:` evaluated, and the
  runner's files and variables stubbed: GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STEP_SUMMARY,
  GITHUB_WORKSPACE, GITHUB_EVENT_NAME, GITHUB_SHA, GITHUB_REF, GITHUB_REPOSITORY, RUNNER_TEMP,
  CI, GITHUB_ACTIONS. `key=value` lines written to GITHUB_OUTPUT become
  `steps.<id>.outputs.<key>`.
- `${{ ... }}` expressions (in env, with, if and run) are evaluated by a small evaluator of
  GitHub's expression syntax: contexts (github, env, vars, inputs, steps, needs), string,
  number and boolean literals, `==`, `!=`, `!`, `&&`, `||` (returning an operand, as GitHub
  does), parentheses, and the status functions success(), failure(), always(). Anything else
  is an error, so a workflow cannot silently use what this runner does not understand.
- `uses:` steps cannot run here. A caller passes `actions`: for each action (by its name
  before the `@`), a function that does its job locally, and says in its docstring which
  action it replaces and what the stand-in does. An action with no stand-in fails the job.
- `rewrite` lets a caller change a script before it runs (the tests replace `--aws` with
  `--sandbox`); every rewrite is recorded in the step's result. `extra_env` adds variables
  to the steps it names (the tests point pip at a local wheel for the install step only).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ExpressionError(ValueError):
    """An expression this evaluator does not understand."""


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!()])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_*][A-Za-z0-9_-]*)*(?:\(\))?))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot read expression {text!r} at {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def truthy(value: Any) -> bool:
    return value not in (None, False, "", 0)


class Evaluator:
    """Evaluate one `${{ }}` body against `contexts`; `status` feeds success()/failure()."""

    def __init__(self, contexts: dict[str, Any], status: str = "success") -> None:
        self.contexts = contexts
        self.status = status

    def __call__(self, text: str) -> Any:
        self.toks = _tokens(text)
        self.i = 0
        value = self._or()
        if self.i != len(self.toks):
            raise ExpressionError(f"unexpected {self.toks[self.i][1]!r} in {text!r}")
        return value

    def _peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self.i += 1
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._cmp()
        while self._peek() == "&&":
            self.i += 1
            right = self._cmp()
            left = right if truthy(left) else left
        return left

    def _cmp(self) -> Any:
        left = self._unary()
        op = self._peek()
        if op in ("==", "!="):
            self.i += 1
            right = self._unary()
            same = _loose(left) == _loose(right)
            return same if op == "==" else not same
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self.i += 1
            return not truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        if self.i >= len(self.toks):
            raise ExpressionError("expression ends too early")
        kind, text = self.toks[self.i]
        self.i += 1
        if text == "(":
            value = self._or()
            if self._peek() != ")":
                raise ExpressionError("missing )")
            self.i += 1
            return value
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "name":
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            if text.endswith("()"):
                fn = text[:-2]
                if fn == "always":
                    return True
                if fn == "success":
                    return self.status == "success"
                if fn == "failure":
                    return self.status == "failure"
                raise ExpressionError(f"function {fn}() is not supported")
            node: Any = self.contexts
            for part in text.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            return node
        raise ExpressionError(f"unexpected {text!r}")


def _loose(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return ""
    return str(value)


_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(text: str, ev: Evaluator) -> str:
    def sub(m: re.Match[str]) -> str:
        value = ev(m.group(1))
        if isinstance(value, bool):
            return str(value).lower()
        return "" if value is None else str(value)

    return _EXPR.sub(sub, text)


def condition(text: str | bool | None, ev: Evaluator) -> bool:
    """A step's or job's `if:`; without a status function it implies success()."""
    if text is None:
        return ev.status == "success"
    if isinstance(text, bool):
        return text
    body = text.strip()
    m = re.fullmatch(r"\$\{\{(.*)\}\}", body, re.S)
    body = m.group(1) if m else body
    value = truthy(ev(body))
    if not re.search(r"\b(always|success|failure|cancelled)\(\)", body):
        value = value and ev.status == "success"
    return value


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    result: dict[str, Any] = data
    return result


@dataclass
class StepResult:
    name: str
    kind: str  # run | uses | skipped
    returncode: int
    output: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    rewrites: list[str] = field(default_factory=list)


@dataclass
class JobResult:
    job: str
    steps: list[StepResult]
    outputs: dict[str, str]
    summary: str

    @property
    def ok(self) -> bool:
        return all(s.returncode == 0 for s in self.steps)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def log(self) -> str:
        return "\n".join(
            f"--- {s.kind} {s.name!r} -> {s.returncode}\n{s.output[-4000:]}" for s in self.steps
        )


ActionFn = Callable[[dict[str, Any], Path, dict[str, str]], dict[str, str]]


def _parse_outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.exists():
        return out
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out


def run_job(
    workflow: Path,
    job_id: str,
    *,
    workspace: Path,
    github: dict[str, Any],
    base_env: dict[str, str],
    actions: dict[str, ActionFn],
    vars: dict[str, str] | None = None,
    inputs: dict[str, str] | None = None,
    needs: dict[str, dict[str, Any]] | None = None,
    rewrite: Callable[[str], tuple[str, list[str]]] | None = None,
    extra_env: dict[str, dict[str, str]] | None = None,
    timeout: float = 900,
) -> JobResult:
    """Run the steps of one job of `workflow` in `workspace`."""
    wf = load(workflow)
    job = wf["jobs"][job_id]
    temp = workspace.parent / f".runner-{workflow.stem}-{job_id}"
    temp.mkdir(exist_ok=True)
    summary_file = temp / "step_summary.md"
    summary_file.write_text("")
    env_file = temp / "env"
    env_file.write_text("")
    contexts: dict[str, Any] = {
        "github": {**github, "workspace": str(workspace)},
        "vars": dict(vars or {}),
        "inputs": dict(inputs or {}),
        "needs": needs or {},
        "steps": {},
        "env": {},
    }
    ev = Evaluator(contexts)
    for key, value in (wf.get("env") or {}).items():
        contexts["env"][key] = interpolate(_text(value), ev)
    for key, value in (job.get("env") or {}).items():
        contexts["env"][key] = interpolate(_text(value), ev)
    runner_env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_EVENT_NAME": str(github.get("event_name", "")),
        "GITHUB_SHA": str(github.get("sha", "")),
        "GITHUB_REF": str(github.get("ref", "")),
        "GITHUB_REPOSITORY": str(github.get("repository", "")),
        "GITHUB_RUN_ID": str(github.get("run_id", "1")),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "GITHUB_ENV": str(env_file),
        "RUNNER_TEMP": str(temp),
        "RUNNER_OS": "Linux",
    }
    results: list[StepResult] = []
    for n, step in enumerate(job.get("steps") or []):
        name = str(step.get("name") or step.get("uses") or f"step {n}")
        sid = step.get("id")
        if not condition(step.get("if"), ev):
            results.append(StepResult(name, "skipped", 0))
            continue
        step_env = {k: interpolate(_text(v), ev) for k, v in (step.get("env") or {}).items()}
        exported = _parse_outputs(env_file)
        env = {**base_env, **runner_env, **contexts["env"], **exported, **step_env}
        env.update((extra_env or {}).get(name, {}))
        if "uses" in step:
            action = str(step["uses"]).split("@", 1)[0]
            fn = actions.get(action)
            if fn is None:
                res = StepResult(name, "uses", 1, output=f"no local stand-in for {action}")
            else:
                with_ = {k: interpolate(_text(v), ev) for k, v in (step.get("with") or {}).items()}
                try:
                    outs = fn(with_, workspace, env)
                    res = StepResult(name, "uses", 0, outputs=outs)
                except Exception as exc:  # a stand-in failing fails the step, as the action would
                    res = StepResult(name, "uses", 1, output=f"{action}: {exc}")
        else:
            script = interpolate(str(step["run"]), ev)
            notes: list[str] = []
            if rewrite is not None:
                script, notes = rewrite(script)
            out_file = temp / f"output-{n}"
            out_file.write_text("")
            env["GITHUB_OUTPUT"] = str(out_file)
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                cwd=workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            res = StepResult(
                name,
                "run",
                proc.returncode,
                output=proc.stdout + proc.stderr,
                outputs=_parse_outputs(out_file),
                rewrites=notes,
            )
        results.append(res)
        if sid:
            contexts["steps"][sid] = {
                "outputs": res.outputs,
                "outcome": "success" if res.returncode == 0 else "failure",
            }
        if res.returncode != 0:
            ev.status = "failure"
    outputs = {k: interpolate(str(v), ev) for k, v in (job.get("outputs") or {}).items()}
    return JobResult(job_id, results, outputs, summary_file.read_text(encoding="utf-8"))


def _text(value: Any) -> str:
    """A YAML scalar as the runner sees it (booleans are `true` / `false`)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def environ_without(prefixes: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
