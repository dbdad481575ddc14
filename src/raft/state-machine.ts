/**
 * A deterministic state machine replicated by Raft. `apply` depends only on the command
 * (and the index it is applied at), never on the wall clock or randomness, so every
 * member reaches the same state. A thrown DcosError is the proposer's result.
 */
export interface StateMachine {
  apply(command: Uint8Array, index: number): Uint8Array;
  /** The whole state, for a snapshot. */
  snapshot(): Uint8Array;
  /**
   * Optional: the state as of now, encoded in steps afterwards (see SnapshotPieces), so
   * that a snapshot does not hold up the member's event loop for time proportional to the
   * state. The call itself only captures a view (in time proportional to the number of
   * keys, not to the bytes), and apply goes on while the pieces are drawn: apply must
   * never change what a view captured (copy on write: replace stored values, never mutate
   * them in place). The pieces, concatenated, are what snapshot() returned at the call.
   * Without it the member calls snapshot() at once.
   */
  snapshotPieces?(): SnapshotPieces;
  /** Replaces the whole state with a snapshot's. */
  restore(state: Uint8Array): void;
  /**
   * Optional: restore() in bounded steps (each next() a few milliseconds of work, e.g.
   * decodeInSteps), so that installing a leader's snapshot does not hold up the member's
   * event loop for time proportional to the state. The machine keeps its old state,
   * unchanged, until the last step replaces it; steps abandoned part-way change nothing.
   * Without it the member calls restore() at once.
   */
  restoreSteps?(state: Uint8Array): RestoreSteps;
}

/** A restore in steps (StateMachine.restoreSteps): run next() until done. */
export type RestoreSteps = Generator<void, void, void>;

/** Who a proposal is from, so that a retry after a leadership change applies at most once. */
export interface ProposalId {
  client: string;
  sequence: number;
}

/**
 * A snapshot being encoded: each next() does a bounded step of the work and returns a
 * piece of the encoding (possibly empty: a step that only made progress); the pieces in
 * order, concatenated, are the snapshot's bytes.
 */
export type SnapshotPieces = IterableIterator<Uint8Array>;
