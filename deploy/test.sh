#!/usr/bin/env bash
# The whole test suite, from a clean clone: host packages, npm dependencies, build,
# proto lint, the fast tier on Node 22 and 24, then every test under dist/test. This is what `npm test` and .ci/run run.
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
# The fast tier (deploy/test-unit.sh) also on the Node versions users run: npm's `node`
# package is a Node binary per version, fetched from npm and cached by npm exec.
for version in 22 24; do
  TEST_REPORTER=dot npm exec --yes --prefer-offline --package="node@$version" -- bash deploy/test-unit.sh
done
npm run --silent test:only
