"""Render the runner hosts' cloud-init user data the way Terraform's templatefile() does.

`infra/templates/cloud-init.yaml.tftpl` uses only `${var}` interpolation (with `$${` and
`%%{` escapes), so this small renderer produces byte-for-byte what Terraform produces; a test
checks that against the real `terraform console`. Used by `runnerfleet render user-data`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runnerfleet.agent.registration import DEFAULT_LABELS
from runnerfleet.agent.runner_release import checksum
from runnerfleet.redaction import redact
from runnerfleet.vocabulary import runner_prefix

TEMPLATE_NAME = "cloud-init.yaml.tftpl"
# EC2 rejects user data above 16 KiB (before base64).
USER_DATA_LIMIT = 16384

TEMPLATE_VARIABLES = (
    "name",
    "region",
    "pool",
    "runner_version",
    "runner_sha256",
    "runner_labels",
    "ephemeral",
    "app_image",
    "cloudwatch_config_parameter",
    "registration_parameter_prefix",
    "runner_name_prefix",
    "agent_bucket",
    "agent_key",
    "agent_sha256",
)

# `render user-data` without a built artifact: the key and digest `up` fills in. The digest
# placeholder matches nothing, so a host booted from such a preview refuses the agent.
UNBUILT_AGENT_KEY = "agent/runnerfleet-agent-UNBUILT.tar.gz"
UNBUILT_AGENT_SHA256 = "0" * 64


def artifacts_bucket_name(name: str, account_id: str) -> str:
    """The fleet's artifacts bucket, as the runner-fleet module names it."""
    return f"{name}-artifacts-{account_id}"


_TOKEN_RE = re.compile(r"\$\$\{|%%\{|\$\{([^}]*)\}|%\{")
_IDENT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


# Secret shapes beyond runnerfleet.redaction.redact's: AWS keys and any PEM block.
_EXTRA_SECRET_RES = (
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"-----BEGIN [A-Z ]+-----"),
    re.compile(r"(?i)aws_secret_access_key"),
)


def secret_findings(text: str) -> list[str]:
    """Lines of `text` that hold something secret-shaped (for user data: must be empty)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if redact(line) != line or any(p.search(line) for p in _EXTRA_SECRET_RES):
            found.append(f"line {number}")
    return found


class TemplateError(ValueError):
    """The template or its variables are wrong; the message names what and how to fix it."""


def templates_dir() -> Path:
    """Find `infra/templates` from the source tree this package runs from."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "infra" / "templates"
        if (candidate / TEMPLATE_NAME).is_file():
            return candidate
    raise TemplateError(
        f"cannot find infra/templates/{TEMPLATE_NAME} above {here}; run runnerfleet from a "
        "checkout of the project (pip install -e .)"
    )


def _value(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value)
    else:
        raise TemplateError(f"template variable {name!r} must be a string, number or bool")
    if "\n" in text or "\r" in text:
        raise TemplateError(f"template variable {name!r} must be a single line")
    if "'" in text or "\0" in text:  # host.env single-quotes every value
        raise TemplateError(f"template variable {name!r} must not hold a quote or NUL")
    return text


def render_template(text: str, variables: Mapping[str, object]) -> str:
    """Interpolate `${name}`; unknown or missing variables and directives are errors."""
    missing = [v for v in TEMPLATE_VARIABLES if v not in variables]
    extra = sorted(set(variables) - set(TEMPLATE_VARIABLES))
    if missing or extra:
        raise TemplateError(
            f"template variables do not match: missing {missing}, unexpected {extra}; "
            f"pass exactly {list(TEMPLATE_VARIABLES)}"
        )
    values = {k: _value(k, v) for k, v in variables.items()}

    def sub(m: re.Match[str]) -> str:
        piece = m.group(0)
        if piece == "$${":
            return "${"
        if piece == "%%{":
            return "%{"
        if piece == "%{":
            raise TemplateError("template directives (%{ ... }) are not supported; use ${var}")
        ident = _IDENT_RE.match(m.group(1) or "")
        if not ident or ident.group(1) not in values:
            raise TemplateError(f"unsupported interpolation {piece!r} in {TEMPLATE_NAME}")
        return values[ident.group(1)]

    return _TOKEN_RE.sub(sub, text)


@dataclass(frozen=True)
class HostSettings:
    """What one host's user data says: the template variables, typed."""

    name: str
    region: str
    pool: str
    runner_version: str
    runner_sha256: str
    runner_labels: str
    ephemeral: bool
    app_image: str
    cloudwatch_config_parameter: str
    registration_parameter_prefix: str
    runner_name_prefix: str
    agent_bucket: str
    agent_key: str
    agent_sha256: str

    def variables(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in TEMPLATE_VARIABLES}


def labels_string(configured: list[str] | tuple[str, ...]) -> str:
    """`self-hosted,linux,x64` plus configured labels, without repeats, in order."""
    out: list[str] = []
    for label in (*DEFAULT_LABELS, *configured):
        if label not in out:
            out.append(label)
    return ",".join(out)


def settings_from_config(
    *,
    name: str,
    region: str,
    runner_version: str,
    labels: list[str],
    ephemeral: bool,
    app_image: str,
    pool: str = "static",
    account_id: str = "ACCOUNT_ID",
    agent_key: str = UNBUILT_AGENT_KEY,
    agent_sha256: str = UNBUILT_AGENT_SHA256,
) -> HostSettings:
    """The settings Terraform passes, derived from the fleet config (same naming rules).
    Without `agent_key`/`agent_sha256` (of `runnerfleet.hostartifact.Artifact`) the agent
    artifact is named by placeholders that no host accepts."""
    return HostSettings(
        name=name,
        region=region,
        pool=pool,
        runner_version=runner_version,
        runner_sha256=checksum(runner_version),
        runner_labels=labels_string(labels),
        ephemeral=ephemeral,
        app_image=app_image,
        cloudwatch_config_parameter=f"/{name}/cloudwatch-agent/config",
        registration_parameter_prefix=f"/{name}/runners",
        runner_name_prefix=runner_prefix(name).removesuffix("-"),
        agent_bucket=artifacts_bucket_name(name, account_id),
        agent_key=agent_key,
        agent_sha256=agent_sha256,
    )


def render_user_data(settings: HostSettings, template_dir: Path | None = None) -> str:
    """Render the cloud-config for one host; raises TemplateError if it exceeds EC2's limit."""
    path = (template_dir or templates_dir()) / TEMPLATE_NAME
    text = render_template(path.read_text(encoding="utf-8"), settings.variables())
    findings = secret_findings(text)
    if findings:
        raise TemplateError(
            f"rendered user data holds something secret-shaped ({', '.join(findings)}); user "
            "data is readable by anyone who can describe the instance: pass credentials "
            "through SSM (the registrar), never through template variables"
        )
    size = len(text.encode())
    if size > USER_DATA_LIMIT:
        raise TemplateError(
            f"rendered user data is {size} bytes, above EC2's {USER_DATA_LIMIT}-byte limit; "
            "shorten the template"
        )
    return text
