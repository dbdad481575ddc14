import type { JobSpec } from "./job-spec.js";

/** What started a run: its schedule, its parents all succeeding, or an operator ("run now"). */
export type RunTrigger = "schedule" | "dependency" | "manual";

/** How an attempt's task ended. `dropped`: the task never started (offer gone, unknown after a failover). */
export type AttemptEnd = "finished" | "failed" | "killed" | "lost" | "error" | "gone" | "dropped";

/**
 * The jobs ledger: every record the jobs leader writes to the masters' replicated log,
 * always BEFORE it acts on it (launches, kills). A run is identified by (job, instant);
 * the ledger is applied in log order by every instance, so two leaders racing for a
 * moment cannot both queue or launch the same run: the first record wins, the second is
 * ignored by every reader, and a leader launches only what its applied ledger says it
 * proposed.
 */
export type LedgerRecord =
  | { type: "job-put"; at: number; spec: JobSpec }
  | { type: "job-deleted"; at: number; name: string }
  | { type: "run-queued"; at: number; job: string; instant: number; trigger: RunTrigger; arguments?: string[] }
  /** Due instants from..to (inclusive; `count` of them) that will not run, and why. */
  | { type: "runs-missed"; at: number; job: string; trigger: "schedule" | "dependency"; from: number; to: number; count: number; reason: string }
  /** A queued run that could not start within its epsilon. */
  | { type: "run-expired"; at: number; job: string; instant: number; reason: string }
  | { type: "attempt-launching"; at: number; job: string; instant: number; taskId: string; agentId: string }
  | { type: "attempt-started"; at: number; taskId: string }
  | { type: "attempt-ended"; at: number; taskId: string; end: AttemptEnd; exitCode?: number; message: string }
  /** The leader is about to kill this attempt's task; `retry`: whether the run may try again. */
  | { type: "attempt-kill"; at: number; taskId: string; reason: string; retry: boolean }
  /** PUT /v1/scheduler/job/success/{name}, or an async job's task reporting success. */
  | { type: "job-marked-success"; at: number; job: string; taskId?: string }
  /** An async job's task reported failure (PUT /v1/scheduler/task/{id} with a non-zero statusCode). */
  | { type: "async-failed"; at: number; taskId: string; statusCode: number }
  /** A data job's task processed `count` more elements (POST /v1/scheduler/job/{name}/task/{taskId}/progress). */
  | { type: "task-progress"; at: number; job: string; taskId: string; count: number };

export const runKey = (job: string, instant: number) => `${job}@${instant}`;

/** Chronos's task id shape `ct:<instant ms>:<attempt index>:<job>:`, unique per attempt. */
export const taskIdFor = (job: string, instant: number, attemptIndex: number) => `ct:${instant}:${attemptIndex}:${job}:`;
