/** The exit codes of `dcos-node run`, on both paths (the one-off framework and the run service's stream); a file of its own with no imports, so the thin client loads nothing else. */
export enum RunExit {
  /** The task reached TASK_FINISHED. */
  FINISHED = 0,
  /** The task ended in any other state (FAILED, KILLED, LOST, ERROR, DROPPED, …). */
  TASK_FAILED = 1,
  /** Bad flags. */
  USAGE = 2,
  /** The task never ran: no subscription, no fitting offer, launch refused, master refused the framework. */
  NOT_LAUNCHED = 3,
  /** --timeout passed while the task ran; it was killed. */
  TIMED_OUT = 124,
  /** Ctrl-C: the task was killed. */
  INTERRUPTED = 130,
}
