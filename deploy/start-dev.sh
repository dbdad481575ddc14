#!/usr/bin/env bash
# The README's first command: install, build, and start the embedded dev cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
exec node dist/src/cli/main.js --role=dev "$@"
