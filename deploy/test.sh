#!/usr/bin/env bash
# The whole test suite, from a clean clone: host packages, npm dependencies, build,
# proto lint, then every test under dist/test. This is what `npm test` and .ci/run run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
  bash deploy/setup-host.sh
else
  bash deploy/setup-host.sh || echo "Tests that need the packages above will fail with instructions." >&2
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npm run --silent build
npm run --silent lint:proto
npm run --silent test:only
