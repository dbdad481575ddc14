#!/usr/bin/env bash
# The fast deterministic tier (`npm run test:unit`): tests that need no root, open no
# sockets and start no processes; most run on the manual clock or a simulated network.
# A minute or two on the dev VM. Runs with whichever `node` is first on PATH, so
# deploy/test.sh runs it on Node 22 and 24 as well. Needs a build (dist/).
# A test file belongs here when it passes that bar: check a new one with
#   node --import <a hook counting net.Server.listen / net.Socket.connect / spawn> --test <file>
# (how the list below was chosen) and keep the whole tier near two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=(
  runtime/actor runtime/clock runtime/mailbox runtime/pid runtime/frame-codec runtime/backoff
  runtime/in-process runtime/sim-network runtime/conformance-in-process runtime/conformance-sim
  resources/parse resources/properties resources/resources
  allocator/allocator allocator/round allocator/properties
  raft/election raft/generations raft/linearizability raft/replication raft/transfer-and-reads
  raft/snapshot-and-membership raft/removed-member raft/replicated-log raft/framework-logs raft/log-storage
  raft/storage/wal-codec raft/storage/snapshotter raft/leader-silence raft/leader-link
  events/binary-writer events/tap-buffer events/event-line
  master/accept-plan master/acknowledge-batch master/agent-reregistration master/agents master/counts master/executors
  master/offers master/operation-status master/reconciliation master/reregistration-while-active
  master/reservations master/resource-metrics master/task-lifecycle master/status-shedding master/shared-resources
  agent/agent agent/recovery agent/memory-disk agent/status-update-manager agent/update-stream-file agent/update-journal agent/static-reservations
  agent/executor-config agent/disk-activity agent/resource-detection agent/recovery-plan agent/master-link
  scheduler-driver/builders scheduler-driver/parts scheduler-driver/reconnect
  simulation/master-detector simulation/master-failover simulation/registry-machine
  simulation/framework-failover simulation/reconciliation-failover simulation/agent-run-tasks
  executor/health-checker executor/health-master
  frameworks/leader-lease frameworks/state-store
  metrics/metrics
  discovery/dns-names discovery/dns-records discovery/lb-render discovery/lb-coalescer
  operator/state-fragments operator/body-parts operator/task-page ui/resource-history ui/web-model ui/recent-events
  bench/launch-pacer
  architecture/layers
)

paths=()
for f in "${FILES[@]}"; do
  path="dist/test/$f.test.js"
  if [ ! -f "$path" ]; then
    echo "test-unit: $path is missing: run 'npm run build' first (or a test listed in deploy/test-unit.sh was renamed)" >&2
    exit 1
  fi
  paths+=("$path")
done

echo "Fast tier on Node $(node --version): ${#paths[@]} files" >&2
exec node --test --test-reporter="${TEST_REPORTER:-spec}" --test-timeout=120000 "$@" "${paths[@]}"
