import type { RaftEntry, RaftHardState, RaftMessage, RaftSnapshot } from "../../gen/dcos/v1/raft_pb.js";

/** The role of a member; transitions are logged and illegal ones throw. */
export enum RaftRole {
  Follower = "follower",
  PreCandidate = "pre-candidate",
  Candidate = "candidate",
  Leader = "leader",
}

/** Volatile state the driver may want to react to (leader changes). */
export interface SoftState {
  term: number;
  /** The leader's id, or "" if unknown. */
  leader: string;
  role: RaftRole;
}

/** A confirmed ReadIndex request: reading state that includes `index` is linearizable. */
export interface ReadState {
  index: number;
  ctx: string;
}

/**
 * One batch of work for the driver (etcd's Ready). The driver, in order:
 * 1. persists `hardState`, `entries` (replacing any conflicting suffix) and `snapshot`
 *    (restoring the state machine from it) — fsynced;
 * 2. sends `messages` — votes and acknowledgements only once step 1 is durable (they
 *    promise it); a leader's appends and snapshots (`sentBeforeDurable`) may go out as
 *    soon as the Ready is taken, and while it is written `takeLeaderMessages()` hands out
 *    the appends of what was proposed since;
 * 3. applies `committedEntries` in order (those already durable may be applied while the
 *    write runs; acknowledgements need not wait for apply), and serves `readStates` once applied >= index;
 * 4. calls `advance(ready)`.
 * The core may be stepped and ticked between `ready()` and `advance()` (for example
 * while an fsync is in flight); it hands out no new Ready until `advance()`.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: RaftHardState;
  entries: RaftEntry[];
  snapshot?: RaftSnapshot;
  committedEntries: RaftEntry[];
  messages: RaftMessage[];
  readStates: ReadState[];
}

/** Where a proposal landed: it succeeded iff the entry applied at `index` has `term`. */
export interface ProposalPosition {
  index: number;
  term: number;
}

/**
 * Messages of a Ready that may be sent before its write is durable: a leader's appends and
 * snapshots promise nothing about its own disk (it counts itself toward commit only at
 * advance). Everything else — votes, acknowledgements — waits for the write.
 */
export function sentBeforeDurable(m: RaftMessage): boolean {
  return m.body.case === "appendEntriesRequest" || m.body.case === "installSnapshotRequest";
}
