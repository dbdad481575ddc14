/**
 * How the agent turns an executor into a container: the built-in executors are node
 * programs of this package; a custom executor runs the ExecutorInfo's command. The
 * environment tells the executor where its agent listens and who it is.
 */
import { create } from "@bufbuild/protobuf";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { ContainerInfo_Type, ExecutorInfo_Type, ExecutorInfoSchema, type CommandInfo, type ExecutorInfo, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import type { ContainerConfig, ContainerResources } from "../../isolation/containerizer.js";
import { Resources } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import { EXECUTOR_ENV } from "../../protocol/executor-environment.js";
import type { ExecutorKind } from "./agent-records.js";

/**
 * A built-in executor's program: the one-file bundle `npm run build` makes
 * (dist/executors/<name>.cjs, build:executors), which starts in about half the CPU of the
 * module graph under dist/src (one file to read and compile, no module resolution); the
 * module itself when the bundle was not built (tsc alone).
 */
function builtinExecutorPath(name: string): string {
  const bundle = fileURLToPath(new URL(`../../../executors/${name}.cjs`, import.meta.url));
  return existsSync(bundle) ? bundle : fileURLToPath(new URL(`../executor-driver/${name}.js`, import.meta.url));
}

export const COMMAND_EXECUTOR_PATH = builtinExecutorPath("command-executor");
export const DEFAULT_EXECUTOR_PATH = builtinExecutorPath("default-executor");

/** Seconds between SHUTDOWN and destroying an executor's container (Mesos: 5 s). */
export const DEFAULT_EXECUTOR_SHUTDOWN_GRACE_SECONDS = 5;

/** The ExecutorInfo of the command executor that runs one command task (its id is the task's). */
export function commandExecutorInfo(task: TaskInfo, frameworkId: string): ExecutorInfo {
  const taskId = task.taskId?.value ?? "";
  return create(ExecutorInfoSchema, {
    type: ExecutorInfo_Type.UNSPECIFIED,
    executorId: { value: taskId },
    frameworkId: { value: frameworkId },
    name: `Command Executor (Task: ${taskId})`,
    container: task.container,
    // The command executor runs as the task's user (its command's, else the framework's).
    command: task.command?.user ? { user: task.command.user } : undefined,
  });
}

/** `direct`: a command task runs without an executor process (command-task.ts); else the node command executor. */
export function executorKind(info: ExecutorInfo, forCommandTask: boolean, direct = false): ExecutorKind {
  if (forCommandTask) return info.container?.type === ContainerInfo_Type.DOCKER ? "docker" : direct ? "direct" : "command";
  return info.type === ExecutorInfo_Type.DEFAULT ? "default" : "custom";
}

function customCommand(info: ExecutorInfo): string | string[] {
  const cmd: CommandInfo | undefined = info.command;
  if (!cmd) throw new DcosError(Code.INVALID_ARGUMENT, `Executor ${info.executorId?.value ?? "?"} has no command to run`);
  if (cmd.shell === false) return [...cmd.arguments];
  return cmd.value;
}

export interface ExecutorContainerInput {
  kind: ExecutorKind;
  info: ExecutorInfo;
  framework: FrameworkInfo;
  agentId: string;
  agentEndpoint: string;
  /** The executor's token for the ExecutorService (DCOS_EXECUTOR_TOKEN). */
  token?: string;
  /** How long the executor keeps trying to reach a restarted agent (DCOS_RECOVERY_TIMEOUT, whole seconds). */
  recoveryTimeoutMs?: number;
  containerId: string;
  sandbox: string;
  /** The executor's and its tasks' resources. */
  resources: Resource[];
  /** Run as the framework's (or command's) user; only when the agent may switch users. */
  switchUser: boolean;
}

export function executorContainerConfig(input: ExecutorContainerInput): ContainerConfig {
  const { info } = input;
  const command =
    input.kind === "command"
      ? [process.execPath, COMMAND_EXECUTOR_PATH]
      : input.kind === "default"
        ? [process.execPath, DEFAULT_EXECUTOR_PATH]
        : customCommand(info);
  const base = commandContainer(input, command, info.command);
  const env = base.env;
  Object.assign(env, {
    [EXECUTOR_ENV.agentEndpoint]: input.agentEndpoint,
    [EXECUTOR_ENV.agentId]: input.agentId,
    [EXECUTOR_ENV.frameworkId]: input.framework.id?.value ?? "",
    [EXECUTOR_ENV.executorId]: info.executorId?.value ?? "",
    [EXECUTOR_ENV.shutdownGracePeriod]: String(info.shutdownGracePeriodSeconds ?? DEFAULT_EXECUTOR_SHUTDOWN_GRACE_SECONDS),
  });
  if (input.token) env[EXECUTOR_ENV.token] = input.token;
  if (input.recoveryTimeoutMs !== undefined) env[EXECUTOR_ENV.recoveryTimeout] = String(Math.max(1, Math.floor(input.recoveryTimeoutMs / 1000)));
  return base;
}

/**
 * A container running `command` for a CommandInfo (an executor's or a command task's): its
 * environment variables, the command's (else the framework's) user when the agent may switch
 * users, and the resources it is given.
 */
export function commandContainer(
  input: { containerId: string; sandbox: string; framework: FrameworkInfo; resources: readonly Resource[]; switchUser: boolean },
  command: string | string[],
  info: CommandInfo | undefined,
): ContainerConfig & { env: Record<string, string> } {
  const env: Record<string, string> = {};
  for (const v of info?.environment?.variables ?? []) env[v.name] = v.value;
  const user = info?.user || input.framework.user;
  return {
    id: input.containerId,
    command,
    env,
    sandbox: input.sandbox,
    user: input.switchUser && user ? user : undefined,
    resources: containerResources(input.resources),
  };
}

/** What a container is given of the resources: cpus, mem and disk, and each port of the port ranges. */
export function containerResources(resources: readonly Resource[]): ContainerResources {
  const r = Resources.of(resources);
  const ports = r.ports().flatMap((i) => Array.from({ length: i.end - i.begin + 1 }, (_, k) => i.begin + k));
  return { cpus: r.scalar("cpus"), memMb: r.scalar("mem"), diskMb: r.scalar("disk"), ports };
}
