#!/usr/bin/env bash
# Install the Debian packages the tests need (PostgreSQL server, Chromium) when running as root
# and they are missing. Without root, say what is missing and carry on: the tests that need
# them fail with a message naming the package.
set -euo pipefail

need=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need+=(postgresql); fi
if ! command -v chromium >/dev/null 2>&1; then need+=(chromium); fi
if ((${#need[@]} == 0)); then exit 0; fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-system-deps: missing ${need[*]} (run as root, or: sudo apt-get install -y ${need[*]})" >&2
  exit 0
fi
echo "install-system-deps: apt-get install -y ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a cluster as a service on port 5432; the tests run their own.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for v in $(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster "$v" main stop 2>/dev/null || true; done
fi
