/**
 * The health check of a command task the agent runs itself (command-task.ts), with the
 * checker the executors use (protocol/health-checker.ts, isolation/health-probes.ts) on the
 * agent's clock: HTTP and TCP probes go to 127.0.0.1 (a task shares the host's network);
 * a COMMAND probe runs in the task's environment and sandbox, inside its container (the
 * containerizer's enter prefix: its cgroups, its PID and mount namespaces, its user), in a
 * process group of its own.
 */
import { TaskState, TaskStatus_Reason, TaskStatus_Source, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { containerEnvironment } from "../../isolation/container-config.js";
import type { ContainerConfig, Containerizer } from "../../isolation/containerizer.js";
import { taskHealthChecker } from "../../isolation/health-probes.js";
import type { HealthCallbacks, HealthChecker } from "../../protocol/health-checker.js";
import type { Clock } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import type { AgentContext } from "./agent-context.js";
import { ExecutorPhase, type ExecutorRecord, type FrameworkOnAgent, type TaskHealth } from "./agent-records.js";
import { commandTaskConfig } from "./command-task.js";

export class CommandTaskHealth implements TaskHealth {
  private readonly checker: HealthChecker;

  /** `config`: the task's container config (its environment and sandbox). Throws for a check without a probe. */
  constructor(task: TaskInfo, containerId: string, containerizer: Containerizer, config: ContainerConfig, clock: Clock, log: Logger, callbacks: HealthCallbacks) {
    const where = {
      env: containerEnvironment(config),
      sandbox: config.sandbox,
      ...(containerizer.enter ? { enter: () => containerizer.enter!(containerId) } : {}),
    };
    this.checker = taskHealthChecker(task.healthCheck!, task.taskId?.value ?? "", where, clock, log, callbacks);
  }

  start(): void {
    this.checker.start();
  }

  stop(): void {
    this.checker.stop();
  }
}

/**
 * Starts the health check of a direct task (once it runs, or again after a recovery): health
 * changes are TASK_RUNNING updates with `healthy` (source EXECUTOR, as the command executor
 * sent them); consecutive failures call `kill` with why, and the task's KILLED carries it.
 */
export function startTaskHealthCheck(a: AgentContext, fw: FrameworkOnAgent, ex: ExecutorRecord, task: TaskInfo, kill: (why: string) => void): void {
  const taskId = task.taskId!.value;
  const inActor = (fn: () => void): void =>
    a.host.enqueue(() => {
      if (fw.executors.get(ex.id) === ex && ex.phase === ExecutorPhase.RUNNING) fn();
    });
  try {
    const config = commandTaskConfig({ task: a.secrets.resolveTask(task), framework: fw.info, containerId: ex.containerId, sandbox: ex.sandbox, workDir: a.opts.workDir, resources: task.resources, switchUser: false });
    ex.health = new CommandTaskHealth(task, ex.containerId, a.opts.containerizer, config, a.clock, a.log, {
      changed: (healthy, message) =>
        inActor(() => {
          if (ex.tasks.get(taskId)?.state !== TaskState.RUNNING) return;
          a.taskStatus(fw.id, ex.id, taskId, TaskState.RUNNING, TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED, message, undefined, TaskStatus_Source.EXECUTOR, healthy);
        }),
      failed: (message) =>
        inActor(() => {
          ex.healthFailure = message;
          kill(message);
        }),
    });
  } catch (err) {
    a.log.error({ taskId, err }, `Task ${taskId} runs without its health check: ${(err as Error).message}`);
    return;
  }
  ex.health.start();
}
