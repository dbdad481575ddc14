/**
 * A deterministic state machine replicated by Raft. `apply` depends only on the command
 * (and the index it is applied at), never on the wall clock or randomness, so every
 * member reaches the same state. A thrown DcosError is the proposer's result.
 */
export interface StateMachine {
  apply(command: Uint8Array, index: number): Uint8Array;
  /** The whole state, for a snapshot. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(state: Uint8Array): void;
}

/** Who a proposal is from, so that a retry after a leadership change applies at most once. */
export interface ProposalId {
  client: string;
  sequence: number;
}
