/** Counters of one Raft member, read by the driver into its metrics (raft/...). */
export class RaftStats {
  /** Messages dropped by a guard clause (stale term, wrong role, unknown sender...). */
  droppedMessages = 0;
  electionsStarted = 0;
  preVotesStarted = 0;
  leaderElected = 0;
  votesGranted = 0;
  votesRejected = 0;
  appendsRejected = 0;
  snapshotsSent = 0;
  snapshotsInstalled = 0;
  proposals = 0;
  leaderTransfers = 0;
  checkQuorumStepDowns = 0;
  /**
   * Times this member, leading and still heard by a majority, was deposed by a newer term:
   * an election no fault of the leader called for (followers that missed heartbeats, e.g.
   * on a starved machine). A leader cut off from the majority steps down by CheckQuorum instead.
   */
  spuriousElections = 0;
  /** Messages refused because they were from or to another generation of a member id. */
  generationMismatches = 0;
  generationsPinned = 0;
  /** Times the driver reported the connection to this member's leader broken (election.ts `peerUnreachable`). */
  leaderLinksLost = 0;
  /** (Pre-)elections started early because the connection to the leader broke, not on the election timeout. */
  quickElections = 0;
  /** Times this leader heard a (pre-)vote request from a server not in its membership (removed, unaware) and caught it up to its removal. */
  removedServersTold = 0;
}
