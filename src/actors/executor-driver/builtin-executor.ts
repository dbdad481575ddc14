/**
 * What the command executor and the default executor share: each task's command runs as a
 * child in its own process group (task-process.ts) and is reported as TASK_STARTING, then
 * TASK_RUNNING, then FINISHED / FAILED (with the exit status in the message) / KILLED.
 * A kill sends SIGTERM, then SIGKILL after the kill policy's grace period (3 s default).
 *
 * Tasks launched together as a group (LAUNCH_GROUP) live and die together, as in Mesos's
 * default executor: when one fails or is killed, the others are killed. The executor exits
 * once every task has ended and its last update is stored by the agent.
 *
 * A task with a health check is probed once RUNNING (health-checker.ts): a change of
 * health is a TASK_RUNNING update with `healthy` and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
 * too many failures in a row kill the task, whose TASK_KILLED carries the same reason,
 * healthy=false and the last failure in its message (as Mesos's executors do).
 */
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { FrameworkInfo_Capability } from "../../gen/dcos/v1/cluster_pb.js";
import { TaskState, TaskStatus_Reason, type KillPolicy, type TaskGroupInfo, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { pino } from "pino";
import { SystemClock, type Clock } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import { ExecutorDriver } from "./driver.js";
import { EXECUTOR_ENV, readExecutorEnvironment, type ExecutorEnvironment } from "../../protocol/executor-environment.js";
import type { HealthChecker } from "../../protocol/health-checker.js";
import { taskEnvironment, taskHealthChecker } from "../../isolation/health-probes.js";
import { TaskProcess, type TaskExit } from "../../isolation/task-process.js";

/** Mesos's default kill grace period for command tasks. */
export const DEFAULT_KILL_GRACE_SECONDS = 3;

enum RunPhase {
  STARTING = "STARTING",
  RUNNING = "RUNNING",
  ENDED = "ENDED",
}

interface RunningTask {
  info: TaskInfo;
  phase: RunPhase;
  process: TaskProcess | undefined;
  /** Tasks launched with it in one group (itself included), or undefined. */
  group: Set<string> | undefined;
  killRequested: boolean;
  /** The last update's promise (resolved when the agent stored it). */
  reported: Promise<unknown>;
  health: HealthChecker | undefined;
  /** Why the health checker asked for the kill, once it did. */
  healthFailure: string | undefined;
}

/** What a health check adds to an update. */
/** Fields of a status update beyond state and message. */
interface StatusFields {
  healthy?: boolean;
  reason?: TaskStatus_Reason;
  /** TaskStatus.exit_code of a command that ended. */
  exitCode?: number;
}

export interface BuiltinExecutorOptions {
  env: ExecutorEnvironment;
  /** The sandbox (working directory of the tasks). */
  sandbox: string;
  /** The environment the tasks start from. */
  taskEnv: NodeJS.ProcessEnv;
  logger: Logger;
  /** Called once everything is over. */
  exit: (code: number) => void;
  /** Times the health checks; the system clock by default. */
  clock?: Clock;
}

export class BuiltinExecutor {
  private readonly driver: ExecutorDriver;
  private readonly tasks = new Map<string, RunningTask>();
  private framework: FrameworkInfo | undefined;
  private shuttingDown = false;
  private exiting = false;
  private exitCode = 0;

  constructor(private readonly options: BuiltinExecutorOptions) {
    const { env, logger } = options;
    this.driver = new ExecutorDriver(
      { agentEndpoint: env.agentEndpoint, frameworkId: env.frameworkId, executorId: env.executorId, token: env.token, recoveryTimeoutMs: env.recoveryTimeoutMs, logger },
      {
        subscribed: (e) => {
          this.framework = e.frameworkInfo;
          logger.info({ containerId: e.containerId?.value }, "Subscribed to the agent");
        },
        launch: (task) => this.launch(task, undefined),
        launchGroup: (group) => this.launchGroup(group),
        kill: (taskId, policy) => this.kill(taskId, policy, "the scheduler asked"),
        shutdown: (grace) => this.shutdown(grace),
        error: (message) => {
          // The agent is gone for good or refuses us: no task may outlive its executor.
          logger.error(message);
          this.exitCode = 1;
          this.shutdown(0);
        },
      },
    );
  }

  start(): void {
    this.driver.start();
  }

  private get log(): Logger {
    return this.options.logger;
  }

  private report(t: RunningTask, state: TaskState, message = "", fields?: StatusFields): void {
    const taskId = t.info.taskId!.value;
    const sent = this.driver.update({ taskId: { value: taskId }, state, message, ...fields }).catch((err: unknown) => {
      this.log.error({ err, taskId }, `Update ${TaskState[state]} for ${taskId} was refused: ${(err as Error).message}`);
    });
    t.reported = t.reported.then(() => sent);
  }

  private launchGroup(group: TaskGroupInfo): void {
    const ids = new Set(group.tasks.map((t) => t.taskId?.value ?? ""));
    for (const task of group.tasks) this.launch(task, ids);
  }

  private launch(task: TaskInfo, group: Set<string> | undefined): void {
    const taskId = task.taskId?.value ?? "";
    if (this.tasks.has(taskId)) {
      this.log.warn({ taskId }, `Ignoring a second launch of task ${taskId}`);
      return;
    }
    const t: RunningTask = {
      info: task,
      phase: RunPhase.STARTING,
      process: undefined,
      group,
      killRequested: false,
      reported: Promise.resolve(),
      health: undefined,
      healthFailure: undefined,
    };
    this.tasks.set(taskId, t);
    if (this.shuttingDown) {
      this.ended(t, TaskState.KILLED, "The executor is shutting down");
      return;
    }
    this.report(t, TaskState.STARTING);
    if (!task.command) {
      this.ended(t, TaskState.FAILED, "The built-in executors run tasks with a command");
      return;
    }
    let proc: TaskProcess;
    try {
      proc = new TaskProcess(task.command, this.options.taskEnv, this.options.sandbox);
    } catch (err) {
      this.ended(t, TaskState.FAILED, (err as Error).message);
      return;
    }
    t.process = proc;
    proc.started().then(
      () => {
        if (t.phase !== RunPhase.STARTING) return;
        t.phase = RunPhase.RUNNING;
        this.log.info({ taskId, pid: proc.pid }, `Task ${taskId} is running (pid ${proc.pid})`);
        this.report(t, TaskState.RUNNING);
        this.startHealthCheck(t);
      },
      () => undefined, // the exit tells
    );
    void proc.exited.then((exit) => this.exited(t, exit));
  }

  private startHealthCheck(t: RunningTask): void {
    const check = t.info.healthCheck;
    if (!check) return;
    const taskId = t.info.taskId!.value;
    const where = { env: taskEnvironment(this.options.taskEnv, t.info.command), sandbox: this.options.sandbox };
    const clock = this.options.clock ?? new SystemClock();
    try {
      t.health = taskHealthChecker(check, taskId, where, clock, this.log, {
        changed: (healthy, message) => {
          if (t.phase !== RunPhase.RUNNING || t.killRequested) return;
          this.report(t, TaskState.RUNNING, message, { healthy, reason: TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED });
        },
        failed: (message) => {
          t.healthFailure = message;
          this.kill(taskId, undefined, message);
        },
      });
    } catch (err) {
      this.log.error({ taskId, err }, `Task ${taskId} runs without its health check: ${(err as Error).message}`);
      return;
    }
    t.health.start();
  }

  private exited(t: RunningTask, exit: TaskExit): void {
    const state = t.killRequested ? TaskState.KILLED : exit.exitCode === 0 ? TaskState.FINISHED : TaskState.FAILED;
    this.log.info({ taskId: t.info.taskId?.value, exit }, `Task ${t.info.taskId?.value}: ${exit.message}`);
    const exitCode = exit.status === undefined ? {} : { exitCode: exit.status };
    if (t.healthFailure === undefined) this.ended(t, state, exit.message, exitCode);
    else this.ended(t, state, `${t.healthFailure}; ${exit.message}`, { healthy: false, reason: TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED, ...exitCode });
  }

  private ended(t: RunningTask, state: TaskState, message: string, fields?: StatusFields): void {
    if (t.phase === RunPhase.ENDED) return;
    t.phase = RunPhase.ENDED;
    t.health?.stop();
    this.report(t, state, message, fields);
    if (t.group && (state === TaskState.FAILED || state === TaskState.KILLED)) {
      for (const other of t.group) {
        if (other !== t.info.taskId?.value) this.kill(other, undefined, `task ${t.info.taskId?.value} of its group ended ${TaskState[state]}`);
      }
    }
    void t.reported.then(() => this.maybeExit());
  }

  private kill(taskId: string, policy: KillPolicy | undefined, why: string): void {
    const t = this.tasks.get(taskId);
    if (!t) {
      this.log.warn({ taskId }, `Ignoring kill of unknown task ${taskId}`);
      return;
    }
    if (t.phase === RunPhase.ENDED || t.killRequested) {
      if (t.phase !== RunPhase.ENDED && policy) t.process?.kill(graceMs(policy, t.info));
      return;
    }
    t.killRequested = true;
    this.log.info({ taskId, why }, `Killing task ${taskId}: ${why}`);
    if (this.framework?.capabilities.includes(FrameworkInfo_Capability.TASK_KILLING_STATE)) this.report(t, TaskState.KILLING);
    if (t.process) t.process.kill(graceMs(policy, t.info));
    else this.ended(t, TaskState.KILLED, "Killed before it started");
    if (t.group) for (const other of t.group) if (other !== taskId) this.kill(other, policy, `task ${taskId} of its group is being killed`);
  }

  private shutdown(graceSeconds: number): void {
    this.log.info({ graceSeconds }, "The agent asked this executor to shut down");
    this.shuttingDown = true;
    const limit: KillPolicy | undefined = undefined;
    for (const t of this.tasks.values()) {
      const grace = Math.min(graceMs(limit, t.info), Math.max(0, graceSeconds * 1000 - 500));
      this.kill(t.info.taskId!.value, { $typeName: "dcos.v1.KillPolicy", gracePeriodSeconds: grace / 1000 }, "the executor is shutting down");
    }
    void this.maybeExit();
  }

  /** The executor itself got SIGTERM: kill the tasks at once (their groups are not ours). */
  shutdownNow(): void {
    this.shutdown(0);
  }

  private maybeExit(): void {
    const all = [...this.tasks.values()];
    if (all.some((t) => t.phase !== RunPhase.ENDED)) return;
    if (all.length === 0 && !this.shuttingDown) return;
    void Promise.all(all.map((t) => t.reported)).then(() => this.finish(this.exitCode));
  }

  private finish(code: number): void {
    if (this.exiting) return;
    this.exiting = true;
    this.driver.stop();
    this.options.exit(code);
  }
}

function graceMs(policy: KillPolicy | undefined, task: TaskInfo): number {
  const s = policy?.gracePeriodSeconds ?? task.killPolicy?.gracePeriodSeconds ?? DEFAULT_KILL_GRACE_SECONDS;
  return Math.max(0, s * 1000);
}

/** The main of a built-in executor process: read the environment, run until done, exit. */
export function runBuiltinExecutor(name: string): void {
  const logger = pino({ name, level: process.env.DCOS_LOG_LEVEL ?? "info" }, pino.destination(2));
  let env: ExecutorEnvironment;
  try {
    env = readExecutorEnvironment();
  } catch (err) {
    logger.fatal((err as Error).message);
    process.exit(2);
  }
  const sandbox = process.env.DCOS_SANDBOX ?? process.cwd();
  const taskEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.values(EXECUTOR_ENV)) delete taskEnv[k];
  const executor = new BuiltinExecutor({
    env,
    sandbox,
    taskEnv,
    logger,
    exit: (code) => {
      logger.info({ code }, `${name} exiting`);
      logger.flush();
      setImmediate(() => process.exit(code));
    },
  });
  // The agent's SIGTERM (destroy) ends the tasks' groups too; they are children of their own groups.
  process.on("SIGTERM", () => executor.shutdownNow());
  executor.start();
}
