#!/usr/bin/env bash
# Host-bootstrap checks: shellcheck (apt) for the rendered user-data scripts, and cloud-init's
# own JSON schema for cloud-config, taken from Debian's cloud-init package (downloaded with
# apt-get download and unpacked with dpkg-deb -x under .tools/; cloud-init is not installed).
# Idempotent; quick when already done.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools="$PWD/.tools/cloud-init"
schema_rel=usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json

need_update=1
apt_update_once() {
  if [ "$need_update" -eq 1 ]; then
    apt-get update -qq
    need_update=0
  fi
}

if ! command -v shellcheck >/dev/null 2>&1; then
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
shellcheck --version | sed -n 2p >&2

if [ ! -s "$tools/root/$schema_rel" ]; then
  apt_update_once
  rm -rf "$tools"
  mkdir -p "$tools/root"
  (cd "$tools" && apt-get download -qq cloud-init)
  deb=$(find "$tools" -maxdepth 1 -name 'cloud-init_*.deb' | head -n 1)
  if [ -z "$deb" ]; then
    echo "40-hostcheck: apt-get download cloud-init produced no .deb" >&2
    exit 1
  fi
  dpkg-deb -x "$deb" "$tools/root"
  basename "$deb" >"$tools/VERSION"
  rm -f "$deb"
fi
if [ ! -s "$tools/root/$schema_rel" ]; then
  echo "40-hostcheck: cloud-init schema not found at $tools/root/$schema_rel" >&2
  exit 1
fi
echo "cloud-init schema: $tools/root/$schema_rel ($(cat "$tools/VERSION"))" >&2
