/**
 * The process's pulse: work that must not wait for Node's timers phase while the event
 * loop is held in I/O callbacks (an urgent actor's overdue timers: ActorSystem registers
 * its check when it starts). Every delivery to an actor system checks its own; the
 * request decoder of a public gRPC service (runtime/grpc/service.ts) calls `pulse()` for
 * every call, so a burst of calls that holds the loop, refusals included, runs the Raft
 * tick as it goes. Cheap when nothing is overdue: one clock read per registered system.
 */
const checks = new Set<() => void>();

/** Registers a check run on every pulse; returns its removal. */
export function onPulse(check: () => void): () => void {
  checks.add(check);
  return () => void checks.delete(check);
}

/** Runs every registered check. */
export function pulse(): void {
  for (const check of checks) check();
}
