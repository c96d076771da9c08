#!/usr/bin/env bash
# The Lambda runtime as the tests run it: a Python 3.12 venv holding only the runtime's
# boto3/botocore (runnerfleet.pyruntime.venv, cached under ~/.cache/runnerfleet/venvs), and
# the control plane's locked dependency wheels for both Lambda architectures (downloaded once,
# hash-checked, into ~/.cache/runnerfleet/lambda-wheels). Fails naming Python 3.12 when it is
# missing. Idempotent; quick when already done.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHONPATH="$PWD/src:$PWD/tests/integration/controlplane" python3 - <<'PY'
from runnerfleet import pyruntime
from runnerfleet.controlplane import packaging
from cp_deployment import RUNTIME_SDK

python = pyruntime.venv("3.12", list(RUNTIME_SDK))
print(f"lambda runtime venv: {python}")
for arch in packaging.ARCHITECTURES:
    wheels = packaging.fetch_wheels(arch)
    print(f"lambda wheels ({arch}): {len(wheels)}")
PY
