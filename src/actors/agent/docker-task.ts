/**
 * Command tasks whose ContainerInfo is of type DOCKER run as a Docker container, without an
 * executor process: the agent is their executor (Mesos runs a thin docker executor for the
 * same job). The agent launches the container through the containerizer, reports
 * TASK_RUNNING once it runs, kills it with `docker stop -t <grace>` and turns its end into
 * FINISHED (status 0), FAILED (with the exit status, or the memory limit) or KILLED.
 *
 * This file maps a TaskInfo to the docker container config, and a Termination to the
 * task's terminal update.
 */
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Volume_Mode } from "../../gen/dcos/v1/resources_pb.js";
import { ContainerInfo_DockerInfo_Network, ContainerInfo_Type, TaskState, TaskStatus_Reason, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { shellExitStatus, type Termination } from "../../isolation/containerizer.js";
import { DOCKER_SANDBOX, LABELS, type DockerBind, type DockerContainerConfig, type DockerNetwork } from "../../isolation/docker-spec.js";
import { Resources } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import { taskVolumes } from "./volumes.js";

/** Mesos's default grace period for killing a command task. */
export const DEFAULT_TASK_KILL_GRACE_SECONDS = 3;

export function isDockerTask(task: TaskInfo): boolean {
  return task.container?.type === ContainerInfo_Type.DOCKER;
}

export interface DockerTaskInput {
  task: TaskInfo;
  frameworkId: string;
  agentId: string;
  containerId: string;
  sandbox: string;
  workDir: string;
  resources: readonly Resource[];
}

function network(n: ContainerInfo_DockerInfo_Network | undefined): DockerNetwork {
  if (n === ContainerInfo_DockerInfo_Network.BRIDGE) return "bridge";
  if (n === ContainerInfo_DockerInfo_Network.NONE) return "none";
  return "host";
}

/** Inside the container, a relative path is under the sandbox. */
function inContainer(path: string): string {
  return path.startsWith("/") ? path : `${DOCKER_SANDBOX}/${path}`;
}

export function dockerTaskConfig(input: DockerTaskInput): DockerContainerConfig {
  const { task } = input;
  const info = task.container?.docker;
  const taskId = task.taskId?.value ?? "";
  if (!info?.image) throw new DcosError(Code.INVALID_ARGUMENT, `Task ${taskId} has a DOCKER container without container.docker.image`);
  const cmd = task.command;
  // shell=false: the arguments are the image's CMD; none (or no command at all) runs the image's default command.
  const command = !cmd ? [] : cmd.shell === false ? [...cmd.arguments] : cmd.value;
  if (typeof command === "string" && !command.trim()) throw new DcosError(Code.INVALID_ARGUMENT, `Task ${taskId} has a shell command with an empty value in its Docker container`);
  const env: Record<string, string> = {};
  for (const v of cmd?.environment?.variables ?? []) env[v.name] = v.value;
  const r = Resources.of(input.resources);
  const ports = r.ports().flatMap((i) => Array.from({ length: i.end - i.begin + 1 }, (_, k) => i.begin + k));
  const binds: DockerBind[] = [
    ...(task.container?.volumes ?? []).map((v) => {
      if (!v.hostPath) throw new DcosError(Code.INVALID_ARGUMENT, `Task ${taskId} has a volume at '${v.containerPath}' without host_path (persistent volumes come with the task's disk resources)`);
      return { hostPath: v.hostPath, containerPath: inContainer(v.containerPath), readOnly: v.mode === Volume_Mode.RO };
    }),
    ...taskVolumes(input.workDir, input.resources).map((v) => ({ hostPath: v.hostPath, containerPath: inContainer(v.containerPath), readOnly: v.readOnly })),
  ];
  return {
    id: input.containerId,
    command,
    env,
    sandbox: input.sandbox,
    resources: { cpus: r.scalar("cpus"), memMb: r.scalar("mem"), diskMb: r.scalar("disk"), ports },
    docker: {
      image: info.image,
      network: network(info.network),
      portMappings: info.portMappings.map((m) => ({ hostPort: m.hostPort, containerPort: m.containerPort, protocol: m.protocol === "udp" ? "udp" : "tcp" })),
      binds,
      privileged: info.privileged,
      forcePull: info.forcePullImage,
      labels: { [LABELS.taskId]: taskId, [LABELS.frameworkId]: input.frameworkId, [LABELS.agentId]: input.agentId },
    },
  };
}

export interface TaskOutcome {
  state: TaskState;
  reason: TaskStatus_Reason;
  message: string;
  /** TaskStatus.exit_code: the container's exit status (128 + signal when a signal ended it), when known. */
  exitCode?: number;
}

/** The terminal update of a docker task whose container ended. */
export function dockerTaskOutcome(t: Termination, killRequested: boolean): TaskOutcome {
  const exitCode = shellExitStatus(t.exitCode, t.signal);
  const outcome = (state: TaskState, reason: TaskStatus_Reason): TaskOutcome => ({ state, reason, message: t.message, ...(exitCode === undefined ? {} : { exitCode }) });
  if (t.reason === "memory limit") return outcome(TaskState.FAILED, TaskStatus_Reason.CONTAINER_LIMITATION_MEMORY);
  if (killRequested || t.reason === "destroyed") return outcome(TaskState.KILLED, TaskStatus_Reason.UNSPECIFIED);
  if (t.exitCode === 0) return outcome(TaskState.FINISHED, TaskStatus_Reason.UNSPECIFIED);
  return outcome(TaskState.FAILED, TaskStatus_Reason.COMMAND_EXECUTOR_FAILED);
}
