/**
 * Agent recovery, the pure part: from the executor checkpoints, the recovered status update
 * streams and what the containerizer found, rebuild the agent's records and say what to do
 * with each executor. Executors whose container was found wait for their executor to
 * subscribe again; those whose container is gone have their unfinished tasks reported LOST;
 * containers nobody checkpointed are destroyed. After a machine reboot every executor is gone.
 *
 * A task can have updates without a checkpointed executor: the agent reports a command task
 * it runs itself STARTING as soon as its launch begins, and checkpoints the executor once
 * its container runs. When the agent died in between, nothing would ever end that task
 * (its container, if it started, is an orphan and destroyed): such tasks are `unowned`, and
 * recovery reports them LOST.
 */
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import { isTerminal } from "../task-states.js";
import type { RecoveryResult } from "../../isolation/containerizer.js";
import { ExecutorRecord, FrameworkOnAgent } from "./agent-records.js";
import type { ExecutorCheckpoint } from "./checkpoint.js";
import type { RecoveredStream } from "./status-update-manager.js";

export interface RecoveryPlan {
  frameworks: Map<string, FrameworkOnAgent>;
  /** Their container runs (or ended while the agent was down; wait() tells). */
  live: ExecutorRecord[];
  /** Their container is gone without a trace. */
  gone: ExecutorRecord[];
  /** Containers to destroy: found by the containerizer, not checkpointed by the agent. */
  orphans: string[];
  /** Unfinished tasks whose updates name an executor no checkpoint holds (the agent died during their launch). */
  unowned: RecoveredStream[];
}

export function planRecovery(checkpoints: readonly ExecutorCheckpoint[], streams: readonly RecoveredStream[], found: RecoveryResult, rebooted = false): RecoveryPlan {
  const byTask = new Map(streams.map((s) => [`${s.frameworkId}\u0000${s.taskId}`, s]));
  const recovered = new Set(found.recovered);
  const plan: RecoveryPlan = { frameworks: new Map(), live: [], gone: [], orphans: [...found.orphans], unowned: [] };
  for (const cp of checkpoints) {
    const fwId = cp.framework.id?.value ?? "";
    let fw = plan.frameworks.get(fwId);
    if (!fw) plan.frameworks.set(fwId, (fw = new FrameworkOnAgent(cp.framework)));
    const ex = new ExecutorRecord(cp.executor, fwId, cp.kind, cp.containerId, cp.sandbox);
    ex.container = cp.container;
    ex.recovered = true;
    for (const { task, role } of cp.tasks) {
      const taskId = task.taskId?.value ?? "";
      const stream = byTask.get(`${fwId}\u0000${taskId}`);
      if (stream?.terminated) continue; // its terminal update was acknowledged: nothing left to do
      const state = stream?.latest?.status?.state ?? TaskState.STAGING;
      ex.tasks.set(taskId, { info: task, role, state, launched: true, killRequested: false });
    }
    fw.executors.set(ex.id, ex);
    if (!rebooted && cp.container && recovered.has(cp.containerId)) plan.live.push(ex);
    else plan.gone.push(ex);
  }
  for (const s of streams) {
    const status = s.latest?.status;
    const executorId = s.latest?.executorId?.value;
    if (s.terminated || !status || isTerminal(status.state) || !executorId) continue;
    if (!plan.frameworks.get(s.frameworkId)?.executors.has(executorId)) plan.unowned.push(s);
  }
  return plan;
}
