/**
 * The evidence real-process jobs tests judge by: a "heartbeat" job appends its due instant
 * (CHRONOS_JOB_RUN_TIME) to a file each run; the jobs API says which instants ran and which
 * were missed, with reasons. `checkHeartbeats` asserts every instant from the first to the
 * last covered one is in the file once (run) or recorded missed with a reason, and none ran
 * twice.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

export interface Runs {
  active: { instant: string; state: string; attempts: { taskId: string; end: string }[] }[];
  history: { instant: string; trigger: string; state: string; reason: string; attempts: { taskId: string; end: string; exitCode: number | null }[] }[];
  missed: { from: string; to: string; count: number; reason: string; trigger: string }[];
  summary: { successCount: number; state: string };
}

export async function getJson<T>(api: string, path: string, init?: RequestInit): Promise<T> {
  const r = await fetch(`http://${api}${path}`, init);
  if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** A job every `periodMs` from `start` appending its due instant to `file`. */
export function heartbeatJob(file: string, start: string, periodMs: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: "heartbeat", command: `echo "$CHRONOS_JOB_RUN_TIME" >> ${file}; sleep 1`, schedule: `R/${start}/PT${periodMs / 1000}S`, epsilon: "PT30S", retries: 2, cpus: 0.1, mem: 32, disk: 0, ...extra };
}

export interface HeartbeatSummary {
  /** Executions in the file by instant (ms). */
  executions: Map<number, number>;
  scheduled: number;
  missed: Set<number>;
  reasons: string[];
}

/** Asserts each instant of the heartbeat from `start` ran at most once and every one up to the last covered was run or missed with a reason. */
export async function checkHeartbeats(runs: Runs, file: string, start: number, periodMs: number, recentWithinMs: number): Promise<HeartbeatSummary> {
  const lines = (await readFile(file, "utf8")).split("\n").filter(Boolean);
  const executions = new Map<number, number>();
  for (const l of lines) executions.set(Date.parse(l), (executions.get(Date.parse(l)) ?? 0) + 1);
  for (const [instant, n] of executions) assert.equal(n, 1, `instant ${new Date(instant).toISOString()} ran ${n} times`);
  const scheduled = runs.history.filter((h) => h.trigger === "schedule");
  for (const h of scheduled) {
    assert.ok(h.attempts.filter((a) => a.end === "finished").length <= 1, `run ${h.instant} succeeded once`);
    if (h.state === "succeeded") assert.equal(executions.get(Date.parse(h.instant)), 1, `succeeded run ${h.instant} ran once`);
    else assert.ok(h.reason !== "", `run ${h.instant} ended ${h.state} with a reason`);
  }
  const missed = new Set<number>();
  for (const m of runs.missed) {
    assert.ok(m.reason.length > 0, `missed ${m.from}..${m.to} has a reason`);
    for (let t = Date.parse(m.from); t <= Date.parse(m.to); t += periodMs) missed.add(t);
  }
  const covered = new Set([...scheduled.map((h) => Date.parse(h.instant)), ...runs.active.map((a) => Date.parse(a.instant)), ...missed]);
  const last = Math.max(...covered);
  assert.ok(last >= Date.now() - recentWithinMs, `the job is still scheduled: its last covered instant ${new Date(last).toISOString()} is recent`);
  for (let t = start; t <= last; t += periodMs) assert.ok(covered.has(t), `instant ${new Date(t).toISOString()} was neither run nor recorded missed`);
  return { executions, scheduled: scheduled.length, missed, reasons: runs.missed.map((m) => m.reason) };
}
