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
}
