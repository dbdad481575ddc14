/**
 * Agent recovery, the part that acts: reads the agent's checkpoints (agent id, executors,
 * checkpointed resources, boot id) and the status update streams, measures the host, asks
 * the containerizer what still runs, then applies the plan (recovery-plan.ts: the pure
 * part) and starts looking for the master. Executor calls that came meanwhile are answered
 * then (executor-calls.ts holds them).
 */
import { create } from "@bufbuild/protobuf";
import { hostname as osHostname } from "node:os";
import { AgentInfoSchema } from "../../gen/dcos/v1/cluster_pb.js";
import { AgentIDSchema } from "../../gen/dcos/v1/common_pb.js";
import { TaskState, TaskStatus_Reason } from "../../gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { AgentPhase, type AgentContext } from "./agent-context.js";
import { ExecutorPhase } from "./agent-records.js";
import { parseAttributes } from "./attributes.js";
import { linuxBootId, readCheckpointedBootId, rebootedSince, writeBootId } from "./boot-id.js";
import { readAgentId, readExecutorCheckpoints, spareCheckpointsDir } from "./checkpoint.js";
import { readCheckpointedResources } from "./checkpointed-resources.js";
import { awaitSubscription, dockerTaskRunning, watchContainer } from "./launch.js";
import { planRecovery, type RecoveryPlan } from "./recovery-plan.js";
import { agentResources, hostFacts } from "./resource-detection.js";
import { SpareFiles } from "./spare-files.js";

/** Reads what the agent checkpointed and what still runs, then recovers (or fails the agent). */
export function startRecovery(a: AgentContext): void {
  const { opts, fs } = a;
  const facts = (opts.hostFacts ? Promise.resolve(opts.hostFacts) : hostFacts(opts.workDir)).then(async (f) => {
    a.checkpointedResources = await readCheckpointedResources(fs, opts.workDir);
    return f;
  });
  const read = a.disk.track(
    fs.mkdirp(opts.workDir).then(() =>
      Promise.all([facts, a.statusUpdates.recover(), readAgentId(fs, opts.workDir), readExecutorCheckpoints(fs, opts.workDir), (a.spareCheckpoints ?? new SpareFiles(fs, spareCheckpointsDir(opts.workDir))).reset(), readCheckpointedBootId(fs, opts.workDir), (opts.bootId ?? linuxBootId)()]),
    ),
  );
  a.host.defer(
    read,
    ([f, streams, agentId, checkpoints, , previousBoot, boot]) => {
      try {
        a.info = create(AgentInfoSchema, {
          hostname: opts.hostname ?? osHostname(),
          resources: a.withCheckpointed(agentResources(f, opts.resources)),
          attributes: parseAttributes(opts.attributes ?? ""),
          pid: a.host.self.toString(),
          port: Number(a.host.self.address.split(":").at(-1)) || 0,
          httpPort: opts.httpPort ?? 0,
        });
      } catch (err) {
        failRecovery(a, err);
        return;
      }
      for (const u of checkpoints.unreadable) {
        if (!u.torn) {
          a.log.error(u, `Ignoring unreadable checkpoint ${u.path}: ${u.error}`);
          continue;
        }
        // A new launch's first checkpoint cut short by the crash (checkpoint.ts): as if it was never written.
        a.log.warn(u, `Removing checkpoint ${u.path}: its first write was cut short by a crash (${u.error}); its executor is unknown, its container an orphan`);
        a.disk.track(fs.remove(u.path)).catch((err: unknown) => a.log.error({ err, path: u.path }, `Failed to remove the torn checkpoint ${u.path}`));
      }
      if (agentId) {
        a.agentId = agentId;
        a.info.id = create(AgentIDSchema, { value: agentId });
      }
      const rebooted = rebootedSince(previousBoot, boot);
      if (rebooted) a.log.warn({ previousBoot, boot }, `The machine rebooted (boot id ${previousBoot} -> ${boot}): no executor of the previous boot survived`);
      // After a reboot no container of the previous boot runs: whatever the containerizer finds is an orphan.
      const states = rebooted ? [] : checkpoints.executors.flatMap((cp) => (cp.container ? [cp.container] : []));
      a.host.defer(
        opts.containerizer.recover(states).then((found) => a.disk.track(writeBootId(fs, opts.workDir, boot)).then(() => found)),
        (found) => recovered(a, planRecovery(checkpoints.executors, streams, found, rebooted), rebooted),
        (err) => failRecovery(a, err),
      );
    },
    (err) => failRecovery(a, err),
  );
}

/** Applies the recovery plan, then starts looking for the master. */
function recovered(a: AgentContext, plan: RecoveryPlan, rebooted: boolean): void {
  for (const [id, fw] of plan.frameworks) a.frameworks.set(id, fw);
  for (const ex of plan.live) {
    const fw = a.frameworks.get(ex.frameworkId)!;
    a.log.info({ executorId: ex.id, frameworkId: fw.id, tasks: ex.tasks.size }, ex.kind === "docker" || ex.kind === "direct" ? `Recovered ${ex.kind} task ${ex.id}` : `Recovered executor ${ex.id}; waiting for it to subscribe again`);
    watchContainer(a, fw, ex);
    if (ex.kind === "docker" || ex.kind === "direct") dockerTaskRunning(a, fw, ex, false);
    else awaitSubscription(a, ex, a.opts.executorReregistrationTimeoutMs, TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT);
  }
  for (const ex of plan.gone) {
    const fw = a.frameworks.get(ex.frameworkId)!;
    ex.transition(ExecutorPhase.TERMINATED, a.log);
    for (const t of ex.liveTasks()) {
      if (rebooted) a.taskStatus(fw.id, ex.id, t.info.taskId!.value, TaskState.GONE, TaskStatus_Reason.AGENT_REBOOTED, "The machine rebooted; the task did not survive");
      else a.taskStatus(fw.id, ex.id, t.info.taskId!.value, TaskState.LOST, TaskStatus_Reason.AGENT_RESTARTED, "The task's container was not found after the agent restarted");
    }
    a.removeExecutor(fw, ex);
  }
  for (const s of plan.unowned) {
    const executorId = s.latest!.executorId!.value;
    // Its RUNNING, if recorded, was never sent (it waits for the container's checkpoint: launch.ts): it is dropped, not sent before the LOST.
    a.statusUpdates.dropUnsent(s.frameworkId, s.taskId, TaskState.RUNNING).catch((err: unknown) => a.log.error({ err, taskId: s.taskId }, `Could not drop the unsent TASK_RUNNING of task ${s.taskId}: ${(err as Error).message}`));
    a.taskStatus(s.frameworkId, undefined, s.taskId, TaskState.LOST, TaskStatus_Reason.AGENT_RESTARTED, `The agent restarted while it launched the task: its executor ${executorId} was never checkpointed with a container`);
  }
  for (const id of plan.orphans) {
    a.log.warn({ containerId: id }, `Destroying orphan container ${id}`);
    a.host.defer(a.opts.containerizer.destroy(id, 0), () => undefined, (err) => a.log.error({ err }, `Failed to destroy orphan container ${id}`));
  }
  a.recoveryMs = a.clock.now() - a.startedAt;
  a.log.info({ frameworks: a.frameworks.size, live: plan.live.length, gone: plan.gone.length, agentId: a.agentId }, "Agent recovered; registering with the master");
  a.transition(AgentPhase.DISCONNECTED);
  a.masterLink.start();
  const held = a.heldExecutorCalls.splice(0);
  if (held.length > 0) a.log.info({ calls: held.length }, `Answering ${held.length} executor call(s) held during recovery`);
  for (const call of held) call.run();
}

/** Recovery failed: the agent cannot start; it stops (held executor calls are refused). */
function failRecovery(a: AgentContext, err: unknown): void {
  a.log.error({ err }, `Agent cannot start: ${(err as Error).message}`);
  for (const call of a.heldExecutorCalls.splice(0)) call.fail(new DcosError(Code.UNAVAILABLE, `The agent could not recover: ${(err as Error).message}`));
  if (a.phase !== AgentPhase.TERMINATING) a.transition(AgentPhase.TERMINATING);
  a.host.terminate();
}
