#!/usr/bin/env bash
# Installs the host packages that dcos-node's tests and benchmarks use. Idempotent: a
# package already present is left alone, and apt's lists are refreshed only when
# something is missing. Needs root; without it, prints what is missing and exits 1.
set -euo pipefail

# command -> Debian package
declare -A NEEDED=(
  [nats-server]=nats-server
  [chromium]=chromium
)

missing=()
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "Missing host packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  echo "(or run 'sudo bash deploy/setup-host.sh')" >&2
  exit 1
fi

echo "Installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
