#!/usr/bin/env bash
# Installs checkov (Terraform/plan security scanner) into its own virtual environment,
# .tools/checkov-venv, because it pins library versions that clash with the project's.
# Idempotent: a venv whose checkov already satisfies the pin is left as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=".tools/checkov-venv"
PIN="checkov>=3.2.400,<4"

if [ -x "${VENV}/bin/checkov" ] \
  && "${VENV}/bin/python" - "${PIN}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
from packaging.requirements import Requirement
req = Requirement(sys.argv[1])
sys.exit(0 if req.specifier.contains(version("checkov"), prereleases=False) else 1)
PY
then
  echo "checkov: already in ${VENV}" >&2
  exit 0
fi

mkdir -p .tools
python3 -m venv "${VENV}"
"${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check "${PIN}"
"${VENV}/bin/python" -c 'from importlib.metadata import version; print("checkov", version("checkov"))' >&2
echo "checkov: installed into ${VENV}" >&2
