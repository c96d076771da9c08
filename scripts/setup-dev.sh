#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine (idempotent; fast when done).
# Each scripts/setup.d/*.sh piece installs one tool family; they run in name order.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
for piece in scripts/setup.d/*.sh; do
  [ -e "$piece" ] || continue
  echo "setup: ${piece}" >&2
  bash "$piece"
done
