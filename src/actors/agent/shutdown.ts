/**
 * Kill and shutdown: the master's KillTask, ShutdownExecutor, ShutdownFramework and
 * ShutdownAgent; shutting an executor down (SHUTDOWN, then its container is destroyed after
 * the grace period); stopping a Docker task or a direct command task (destroy with the kill
 * policy's grace); and an executor's end (executorTerminated: its unfinished tasks' last
 * updates, ExitedExecutor to the master).
 */
import { create } from "@bufbuild/protobuf";
import { ExecutorEventSchema } from "../../gen/dcos/v1/executor_pb.js";
import { ExitedExecutorSchema } from "../../gen/dcos/v1/internal_pb.js";
import { FrameworkInfo_Capability } from "../../gen/dcos/v1/cluster_pb.js";
import { TaskState, TaskStatus_Reason, TaskStatus_Source, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { shellExitStatus, type Termination } from "../../isolation/containerizer.js";
import type { Pid } from "../../runtime/pid.js";
import { isTerminal, taskStateName } from "../task-states.js";
import { AgentPhase, type AgentContext } from "./agent-context.js";
import { ExecutorPhase, type ExecutorRecord, type FrameworkOnAgent, type QueuedLaunch } from "./agent-records.js";
import { DEFAULT_TASK_KILL_GRACE_SECONDS, dockerTaskOutcome } from "./docker-task.js";
import { commandTaskOutcome } from "./command-task.js";
import { DEFAULT_EXECUTOR_SHUTDOWN_GRACE_SECONDS } from "./executor-config.js";

export function killTask(a: AgentContext, fwId: string, taskId: string, killPolicy: TaskInfo["killPolicy"], from: Pid): void {
  if (!a.fromMaster(from, `kill of task ${taskId}`)) return;
  const fw = a.frameworks.get(fwId);
  if (!fw) {
    a.drop(`kill of task ${taskId}`, `framework ${fwId} has nothing on this agent`);
    return;
  }
  const ex = fw.executorOfTask(taskId);
  const task = ex?.tasks.get(taskId);
  if (!ex || !task) {
    a.drop(`kill of task ${taskId}`, `framework ${fwId} has no such task on this agent`);
    return;
  }
  if (isTerminal(task.state)) {
    a.drop(`kill of task ${taskId}`, `it is already ${taskStateName(task.state)}`);
    return;
  }
  task.killRequested = true;
  if (!task.launched) {
    unqueue(ex, taskId);
    a.taskStatus(fw.id, ex.id, taskId, TaskState.KILLED, TaskStatus_Reason.TASK_KILLED_DURING_LAUNCH, "Killed before it was sent to its executor");
    if (ex.liveTasks().length === 0) shutdownExecutor(a, ex, "it has no tasks left");
    return;
  }
  if (ex.kind === "docker" || ex.kind === "direct") {
    killAgentRunTask(a, fw, ex, taskId, killPolicy ?? task.info.killPolicy);
    return;
  }
  if (!ex.link) {
    shutdownExecutor(a, ex, `task ${taskId} must be killed and the executor is not connected`);
    return;
  }
  a.log.info({ frameworkId: fwId, taskId, graceSeconds: (killPolicy ?? task.info.killPolicy)?.gracePeriodSeconds }, `Asking executor ${ex.id} to kill task ${taskId}`);
  ex.link.send(create(ExecutorEventSchema, { kind: { case: "kill", value: { taskId: { value: taskId }, killPolicy: killPolicy ?? task.info.killPolicy } } }));
}

function unqueue(ex: ExecutorRecord, taskId: string): void {
  ex.queue = ex.queue.flatMap((item): QueuedLaunch[] => {
    if ("task" in item) return item.task.taskId?.value === taskId ? [] : [item];
    const tasks = item.group.tasks.filter((t) => t.taskId?.value !== taskId);
    return tasks.length === 0 ? [] : [{ group: { ...item.group, tasks } }];
  });
}

/**
 * A task the agent runs as its executor: `docker stop -t <grace>`, or for a direct command
 * task destroy with the grace (SIGTERM, then SIGKILL; TASK_KILLING first for frameworks
 * that want it): the kill policy's grace period, 3 s by default.
 */
export function killAgentRunTask(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord, taskId: string, policy: TaskInfo["killPolicy"], why = "the scheduler asked"): void {
  if (ex.phase === ExecutorPhase.TERMINATING) return;
  ex.transition(ExecutorPhase.TERMINATING, a.log);
  const graceSeconds = policy?.gracePeriodSeconds ?? DEFAULT_TASK_KILL_GRACE_SECONDS;
  if (ex.kind === "direct") {
    ex.health?.stop();
    const rec = ex.tasks.get(taskId);
    if (rec) rec.killRequested = true;
    a.log.info({ executorId: ex.id, taskId, graceSeconds, why }, `Killing task ${taskId} with a grace period of ${graceSeconds} s: ${why}`);
    if (fw.info.capabilities.includes(FrameworkInfo_Capability.TASK_KILLING_STATE)) a.taskStatus(fw.id, ex.id, taskId, TaskState.KILLING, TaskStatus_Reason.UNSPECIFIED, "", undefined, TaskStatus_Source.EXECUTOR);
    a.destroyContainer(ex, graceSeconds * 1000);
    return;
  }
  a.log.info({ executorId: ex.id, taskId, graceSeconds }, `Stopping the docker container of task ${taskId} with a grace period of ${graceSeconds} s`);
  a.host.defer(
    a.opts.containerizer.destroy(ex.containerId, graceSeconds * 1000),
    () => undefined,
    (err) => a.log.error({ err, containerId: ex.containerId }, `Failed to stop the docker container of task ${taskId}`),
  );
}

export function shutdownFramework(a: AgentContext, fwId: string, from: Pid): void {
  if (!a.fromMaster(from, `shutdown of framework ${fwId}`)) return;
  const fw = a.frameworks.get(fwId);
  if (!fw) {
    a.drop(`shutdown of framework ${fwId}`, "it has nothing on this agent");
    return;
  }
  beginFrameworkShutdown(a, fw, "the master asked");
}

export function beginFrameworkShutdown(a: AgentContext, fw: FrameworkOnAgent, why: string): void {
  a.log.info({ frameworkId: fw.id }, `Shutting down framework ${fw.id}: ${why}`);
  fw.terminating = true;
  for (const ex of fw.executors.values()) shutdownExecutor(a, ex, `framework ${fw.id} is shutting down`);
  // Executors already ended (kept only so their tasks' terminal updates can be acknowledged)
  // wait for nothing more: a framework that is gone acknowledges nothing, so its update
  // streams end here instead of resending for ever.
  if ([...fw.executors.values()].every((e) => e.phase === ExecutorPhase.TERMINATED)) a.removeFramework(fw);
}

export function shutdownExecutorMessage(a: AgentContext, fwId: string, exId: string, from: Pid): void {
  if (!a.fromMaster(from, `shutdown of executor ${exId}`)) return;
  const ex = a.frameworks.get(fwId)?.executors.get(exId);
  if (!ex) {
    a.drop(`shutdown of executor ${exId}`, `framework ${fwId} has no such executor here`);
    return;
  }
  shutdownExecutor(a, ex, "the master asked");
}

/** SHUTDOWN to the executor, then the container is destroyed after its grace period. */
function shutdownExecutor(a: AgentContext, ex: ExecutorRecord, why: string): void {
  if (ex.phase === ExecutorPhase.TERMINATING || ex.phase === ExecutorPhase.TERMINATED) return;
  const wasLaunching = ex.phase === ExecutorPhase.LAUNCHING;
  ex.shuttingDown = true;
  ex.registrationTimer?.cancel();
  ex.transition(ExecutorPhase.TERMINATING, a.log);
  a.log.info({ executorId: ex.id, frameworkId: ex.frameworkId }, `Shutting down executor ${ex.id}: ${why}`);
  if (wasLaunching) return; // launch.ts's launched() destroys it once the container exists
  if (ex.kind === "direct") {
    // As the command executor did: each task gets its kill grace, within the executor's shutdown grace.
    ex.health?.stop();
    const shutdownMs = (ex.info.shutdownGracePeriodSeconds ?? DEFAULT_EXECUTOR_SHUTDOWN_GRACE_SECONDS) * 1000;
    const taskMs = Math.min(...ex.liveTasks().map((t) => (t.info.killPolicy?.gracePeriodSeconds ?? DEFAULT_TASK_KILL_GRACE_SECONDS) * 1000), shutdownMs);
    a.destroyContainer(ex, Math.max(0, Math.min(taskMs, shutdownMs - 500)));
    return;
  }
  if (!ex.link) {
    a.destroyContainer(ex);
    return;
  }
  const graceSeconds = ex.info.shutdownGracePeriodSeconds ?? DEFAULT_EXECUTOR_SHUTDOWN_GRACE_SECONDS;
  ex.link.send(create(ExecutorEventSchema, { kind: { case: "shutdown", value: { gracePeriodSeconds: graceSeconds } } }));
  ex.shutdownTimer = a.host.delay(graceSeconds * 1000, () => {
    ex.shutdownTimer = undefined;
    if (ex.phase === ExecutorPhase.TERMINATED) return;
    a.log.warn({ executorId: ex.id }, `Executor ${ex.id} still runs ${graceSeconds} s after SHUTDOWN; destroying its container`);
    a.destroyContainer(ex);
  });
}

/** The executor's container ended: its unfinished tasks end (KILLED if asked, else FAILED), the master hears ExitedExecutor. */
export function executorTerminated(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord, t: Termination): void {
  if (ex.phase === ExecutorPhase.TERMINATED) return;
  ex.registrationTimer?.cancel();
  ex.shutdownTimer?.cancel();
  ex.transition(ExecutorPhase.TERMINATED, a.log);
  ex.health?.stop();
  a.metrics.executorsTerminated.inc();
  ex.link?.close();
  ex.link = undefined;
  a.log.info({ executorId: ex.id, frameworkId: fw.id, termination: t }, `Executor ${ex.id} of framework ${fw.id} terminated: ${t.message}`);
  for (const task of ex.liveTasks()) {
    const killed = ex.shuttingDown || task.killRequested;
    if (ex.kind === "docker") {
      const outcome = dockerTaskOutcome(t, killed);
      a.taskStatus(fw.id, ex.id, task.info.taskId!.value, outcome.state, outcome.reason, outcome.message, outcome.exitCode);
      continue;
    }
    if (ex.kind === "direct") {
      const outcome = commandTaskOutcome(t, killed, ex.healthFailure);
      a.taskStatus(fw.id, ex.id, task.info.taskId!.value, outcome.state, outcome.reason, outcome.message, outcome.exitCode, outcome.source, outcome.healthy);
      continue;
    }
    const reason =
      t.reason === "memory limit"
        ? TaskStatus_Reason.CONTAINER_LIMITATION_MEMORY
        : t.reason === "launch failed"
          ? TaskStatus_Reason.CONTAINER_LAUNCH_FAILED
          : (ex.failureReason ?? TaskStatus_Reason.EXECUTOR_TERMINATED);
    a.taskStatus(fw.id, ex.id, task.info.taskId!.value, killed ? TaskState.KILLED : TaskState.FAILED, reason, `Executor terminated: ${t.message}`);
  }
  if (a.phase === AgentPhase.RUNNING) {
    const status = shellExitStatus(t.exitCode, t.signal) ?? -1;
    a.host.send(a.masters.current, create(ExitedExecutorSchema, { agentId: { value: a.agentId }, frameworkId: { value: fw.id }, executorId: ex.info.executorId, status }));
  }
  a.removeExecutor(fw, ex);
}

export function shutdownAgent(a: AgentContext, message: string, from: Pid): void {
  if (!a.fromMaster(from, "shutdown")) return;
  a.log.warn({ message }, `The master asked this agent to shut down: ${message}`);
  a.masterLink.stop();
  a.transition(AgentPhase.TERMINATING);
  for (const fw of [...a.frameworks.values()]) beginFrameworkShutdown(a, fw, "the agent is shutting down");
  if (a.frameworks.size === 0) a.host.terminate();
}
