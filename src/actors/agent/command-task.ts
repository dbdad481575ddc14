/**
 * Command tasks the agent runs itself, without an executor process (the `direct` executor
 * kind, the default; `--command-executor=process` keeps the per-task node executor). The
 * containerizer already does what an executor did for one command: the launch wrapper
 * (isolation/launcher.ts) starts the task's command detached in its own session and
 * process group, inside the container's cgroups and namespaces, with stdout/stderr on the
 * sandbox's files, and records its exit status in a file, so a restarted agent learns how
 * a task that ended while it was down ended. destroy(grace) is the kill policy: SIGTERM,
 * then SIGKILL after the grace, and a recovered containerizer finishes a destroy that was
 * under way.
 *
 * Frameworks see what the command executor sent: the executor id is the task id,
 * TASK_STARTING and TASK_RUNNING and the command's own end (FINISHED / FAILED / KILLED
 * with the exit status in the message and TaskStatus.exit_code) come with source
 * SOURCE_EXECUTOR; what only the agent knows (a memory limit, a failed launch, a container
 * that left no status) comes with source SOURCE_AGENT.
 *
 * This file maps a TaskInfo to its container config, and a Termination to the task's
 * terminal update.
 */
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { TaskState, TaskStatus_Reason, TaskStatus_Source, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { shellExitStatus, type ContainerConfig, type Termination } from "../../isolation/containerizer.js";
import { describeExit } from "../../isolation/launcher.js";
import { Code, DcosError } from "../../runtime/error.js";
import { DEFAULT_TASK_KILL_GRACE_SECONDS, type TaskOutcome } from "./docker-task.js";
import { commandContainer } from "./executor-config.js";
import { taskVolumes } from "./volumes.js";

export interface CommandTaskInput {
  task: TaskInfo;
  framework: FrameworkInfo;
  containerId: string;
  sandbox: string;
  workDir: string;
  /** The task's resources (and its executor's, none for a command task). */
  resources: readonly Resource[];
  /** Run as the command's (else the framework's) user; only when the agent may switch users. */
  switchUser: boolean;
}

/** The container of a command task: its own command, environment, user, resources and volumes. */
export function commandTaskConfig(input: CommandTaskInput): ContainerConfig {
  const { task } = input;
  const taskId = task.taskId?.value ?? "";
  const cmd = task.command;
  if (!cmd) throw new DcosError(Code.INVALID_ARGUMENT, `Task ${taskId} has no command`);
  let command: string | string[];
  if (cmd.shell === false) {
    if (cmd.arguments.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "A command with shell=false needs arguments (argv[0] included)");
    command = [...cmd.arguments];
  } else {
    if (!cmd.value.trim()) throw new DcosError(Code.INVALID_ARGUMENT, "The task's command is empty");
    command = cmd.value;
  }
  return {
    ...commandContainer(input, command, cmd),
    volumes: taskVolumes(input.workDir, input.resources),
    killGracePeriodMs: (task.killPolicy?.gracePeriodSeconds ?? DEFAULT_TASK_KILL_GRACE_SECONDS) * 1000,
  };
}

export interface CommandTaskOutcome extends TaskOutcome {
  source: TaskStatus_Source;
  /** false when a failed health check had the task killed. */
  healthy?: boolean;
}

/**
 * The terminal update of a command task whose container ended. `healthFailure`: why the
 * agent's health checker had it killed, if it did.
 */
export function commandTaskOutcome(t: Termination, killRequested: boolean, healthFailure?: string): CommandTaskOutcome {
  const exitCode = shellExitStatus(t.exitCode, t.signal);
  const known = t.exitCode !== null || t.signal !== null;
  const exit = known ? describeExit({ exitCode: t.exitCode, signal: t.signal }) : t.message;
  const outcome = (state: TaskState, reason: TaskStatus_Reason, source: TaskStatus_Source, message: string): CommandTaskOutcome => ({
    state,
    reason,
    source,
    message,
    ...(exitCode === undefined ? {} : { exitCode }),
  });
  if (t.reason === "memory limit" || t.reason === "pids limit") {
    const reason = t.reason === "memory limit" ? TaskStatus_Reason.CONTAINER_LIMITATION_MEMORY : TaskStatus_Reason.CONTAINER_LIMITATION;
    return outcome(TaskState.FAILED, reason, TaskStatus_Source.AGENT, t.message);
  }
  if (t.reason === "launch failed") return outcome(TaskState.FAILED, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED, TaskStatus_Source.AGENT, t.message);
  if (healthFailure !== undefined) {
    return { ...outcome(TaskState.KILLED, TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED, TaskStatus_Source.EXECUTOR, `${healthFailure}; ${exit}`), healthy: false };
  }
  if (killRequested || t.reason === "destroyed") return outcome(TaskState.KILLED, TaskStatus_Reason.UNSPECIFIED, TaskStatus_Source.EXECUTOR, exit);
  if (t.reason === "status unknown") {
    return outcome(TaskState.FAILED, TaskStatus_Reason.EXECUTOR_TERMINATED, TaskStatus_Source.AGENT, `The task's exit status is not known: ${t.message}`);
  }
  if (t.exitCode === 0) return outcome(TaskState.FINISHED, TaskStatus_Reason.UNSPECIFIED, TaskStatus_Source.EXECUTOR, exit);
  return outcome(TaskState.FAILED, TaskStatus_Reason.UNSPECIFIED, TaskStatus_Source.EXECUTOR, exit);
}
