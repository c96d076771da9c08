"""The NAT instance's user data (infra/modules/network/nat-instance.sh.tftpl), rendered the
way Terraform's templatefile renders it, passes shellcheck and does what the module README
says: attach the fleet's NAT interface, forward, masquerade, switch the default route.

The template uses only `${name}` interpolation and `$${...}` escapes (no `%{}` directives),
so the rendering here is exact for it; a directive or an unknown variable fails the test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "infra" / "modules" / "network" / "nat-instance.sh.tftpl"
VARS = {
    "eni_id": "eni-0123456789abcdef0",
    "eni_mac": "0a:1b:2c:3d:4e:5f",
    "gateway_ip": "10.0.1.1",
    "private_cidr": "10.0.0.0/16",
}
INTERP = re.compile(r"(?<!\$)\$\{([^}]*)\}")


def render(text: str, variables: dict[str, str]) -> str:
    if "%{" in text:
        raise ValueError("template directives are not supported by this renderer")

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in variables:
            raise KeyError(f"template uses ${{{name}}}, which nat_instance.tf does not pass")
        return variables[name]

    return INTERP.sub(sub, text).replace("$${", "${")


def test_template_variables_are_the_ones_terraform_passes() -> None:
    used = set(INTERP.findall(TEMPLATE.read_text(encoding="utf-8")))
    assert used == set(VARS)
    tf = (TEMPLATE.parent / "nat_instance.tf").read_text(encoding="utf-8")
    block = tf[tf.index('templatefile("${path.module}/nat-instance.sh.tftpl"') :]
    block = block[: block.index("})")]
    assert {k for k in VARS if re.search(rf"^\s*{k}\s*=", block, re.M)} == set(VARS)


def test_rendered_user_data_passes_shellcheck(tmp_path: Path) -> None:
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.fail("shellcheck is not installed; run `bash scripts/setup-dev.sh`")
    script = tmp_path / "nat.sh"
    script.write_text(render(TEMPLATE.read_text(encoding="utf-8"), VARS), encoding="utf-8")
    proc = subprocess.run(
        [exe, "--severity=style", "--format=gcc", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the embedded runnerfleet-nat script too (a quoted heredoc: shellcheck sees it as text)
    body = script.read_text(encoding="utf-8")
    inner = body[body.index("<<'NAT'\n") + len("<<'NAT'\n") : body.index("\nNAT\n")]
    (tmp_path / "inner.sh").write_text(inner + "\n", encoding="utf-8")
    proc = subprocess.run(
        [exe, "--severity=style", "--format=gcc", str(tmp_path / "inner.sh")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rendered_user_data_attaches_forwards_and_masquerades() -> None:
    body = render(TEMPLATE.read_text(encoding="utf-8"), VARS)
    assert "${" not in body.replace("${token}", "").replace("${region}", "").replace(
        "${instance_id}", ""
    ).replace("${attempt}", "").replace("${dev}", ""), "an unrendered placeholder is left"
    assert 'attach-network-interface --region "${region}" --instance-id "${instance_id}"' in body
    assert '--network-interface-id "eni-0123456789abcdef0" --device-index 1' in body
    assert "X-aws-ec2-metadata-token" in body, "IMDSv2 (the launch template requires tokens)"
    assert "net.ipv4.ip_forward=1" in body
    assert '-s "10.0.0.0/16" -o "${dev}" -j MASQUERADE' in body
    assert 'ip route replace default via "10.0.1.1" dev "${dev}"' in body
    assert "systemctl enable --now runnerfleet-nat.service" in body
    assert not re.search(r"ssh|authorized_keys|PasswordAuthentication", body, re.I)


def test_renderer_refuses_unknown_variables() -> None:
    with pytest.raises(KeyError, match="nope"):
        render("echo ${nope}", VARS)
    assert render("echo $${x} ${eni_id}", VARS) == "echo ${x} eni-0123456789abcdef0"
