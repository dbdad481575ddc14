/**
 * Raft timing as operators give it (`--raft-tick`, `--raft-election-timeout`) turned into
 * the member's ticks. The leader sends a heartbeat every tick; a follower that hears no
 * leader for the election timeout (randomized in [timeout, 2 × timeout)) starts an
 * election. The defaults follow etcd (100 ms / 1 s): measured on a starved machine (two
 * cores, load ~10-40) the old 50 ms / 500 ms let followers time out while the leader was
 * only descheduled, an election with no fault (see docs/fault-tolerance.md).
 */
import { Code, DcosError } from "../runtime/error.js";

export const RAFT_TIMING_DEFAULTS = { tickMs: 100, electionTimeoutMs: 1_000 } as const;

export interface RaftTiming {
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
}

/** Ticks for a tick length and an election timeout; INVALID_ARGUMENT when they do not make a usable pair. */
export function raftTiming(tickMs: number = RAFT_TIMING_DEFAULTS.tickMs, electionTimeoutMs: number = RAFT_TIMING_DEFAULTS.electionTimeoutMs): RaftTiming {
  if (!Number.isFinite(tickMs) || tickMs < 1 || tickMs > 10_000) {
    throw new DcosError(Code.INVALID_ARGUMENT, `--raft-tick must be between 1ms and 10secs, not ${tickMs} ms`);
  }
  if (!Number.isFinite(electionTimeoutMs) || electionTimeoutMs < 3 * tickMs) {
    throw new DcosError(Code.INVALID_ARGUMENT, `--raft-election-timeout (${electionTimeoutMs} ms) must be at least 3 ticks (3 × --raft-tick = ${3 * tickMs} ms): the leader heartbeats every tick`);
  }
  if (electionTimeoutMs % tickMs !== 0) {
    throw new DcosError(Code.INVALID_ARGUMENT, `--raft-election-timeout (${electionTimeoutMs} ms) must be a whole number of ticks of ${tickMs} ms`);
  }
  return { tickMs, electionTicks: electionTimeoutMs / tickMs, heartbeatTicks: 1 };
}
