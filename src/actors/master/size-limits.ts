/**
 * Bounds on every string and list a scheduler sends that ends up in the master's state
 * (and so in /state, the registry and events): names, roles, labels, environments,
 * commands, URIs. Without them one framework named with 60 MiB made /state take 15 s to
 * build and then fail. Each check returns a precise problem (INVALID_ARGUMENT or a
 * TASK_ERROR's message) or undefined.
 */
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Labels } from "../../gen/dcos/v1/common_pb.js";
import type { CommandInfo, ExecutorInfo, TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";

export const SIZE_LIMITS = {
  /** Framework, task and executor names; hostnames, URLs, users. */
  name: 1024,
  /** Ids (task, executor) and principals. */
  id: 256,
  roles: 64,
  labels: 64,
  labelKey: 256,
  labelValue: 4096,
  envVars: 256,
  envName: 256,
  envValue: 32 * 1024,
  /** A shell command line, or all arguments together. */
  command: 64 * 1024,
  arguments: 1024,
  uris: 64,
  uri: 4096,
  /** TaskInfo.data and ExecutorInfo.data. */
  data: 1024 * 1024,
} as const;

const chars = (n: number) => `${n} characters`;

function tooLong(value: string, max: number, what: string): string | undefined {
  return value.length > max ? `${what} is ${value.length} characters long; at most ${chars(max)}` : undefined;
}

function tooMany(n: number, max: number, what: string): string | undefined {
  return n > max ? `${what} has ${n} entries; at most ${max}` : undefined;
}

export function labelsSizeProblem(labels: Labels | undefined, what: string): string | undefined {
  const list = labels?.labels ?? [];
  const many = tooMany(list.length, SIZE_LIMITS.labels, `${what} labels`);
  if (many) return many;
  for (const l of list) {
    const p = tooLong(l.key, SIZE_LIMITS.labelKey, `${what} label key`) ?? tooLong(l.value, SIZE_LIMITS.labelValue, `${what} label '${l.key.slice(0, 64)}'`);
    if (p) return p;
  }
  return undefined;
}

export function frameworkInfoSizeProblem(info: FrameworkInfo): string | undefined {
  return (
    tooLong(info.name, SIZE_LIMITS.name, "framework_info.name") ??
    tooLong(info.user, SIZE_LIMITS.name, "framework_info.user") ??
    tooLong(info.hostname, SIZE_LIMITS.name, "framework_info.hostname") ??
    tooLong(info.webuiUrl, SIZE_LIMITS.name, "framework_info.webui_url") ??
    tooLong(info.principal, SIZE_LIMITS.id, "framework_info.principal") ??
    tooLong(info.id?.value ?? "", SIZE_LIMITS.id, "framework_info.id") ??
    tooMany(info.roles.length, SIZE_LIMITS.roles, "framework_info.roles") ??
    labelsSizeProblem(info.labels, "framework_info")
  );
}

export function commandSizeProblem(command: CommandInfo, what: string): string | undefined {
  const many = tooMany(command.arguments.length, SIZE_LIMITS.arguments, `${what} arguments`) ?? tooMany(command.uris.length, SIZE_LIMITS.uris, `${what} uris`);
  if (many) return many;
  const argv = command.arguments.reduce((n, a) => n + a.length, 0);
  if (argv > SIZE_LIMITS.command) return `${what} arguments are ${argv} characters together; at most ${chars(SIZE_LIMITS.command)}`;
  const p = tooLong(command.value, SIZE_LIMITS.command, `${what} value`) ?? tooLong(command.user, SIZE_LIMITS.name, `${what} user`);
  if (p) return p;
  for (const u of command.uris) {
    const up = tooLong(u.value, SIZE_LIMITS.uri, `${what} uri`) ?? tooLong(u.outputFile, SIZE_LIMITS.name, `${what} uri output_file`);
    if (up) return up;
  }
  const vars = command.environment?.variables ?? [];
  const envMany = tooMany(vars.length, SIZE_LIMITS.envVars, `${what} environment`);
  if (envMany) return envMany;
  for (const v of vars) {
    const vp =
      tooLong(v.name, SIZE_LIMITS.envName, `${what} environment variable name`) ??
      tooLong(v.value, SIZE_LIMITS.envValue, `${what} environment variable '${v.name.slice(0, 64)}'`) ??
      tooLong(v.secret?.reference?.name ?? "", SIZE_LIMITS.name, `${what} environment variable '${v.name.slice(0, 64)}' secret reference`) ??
      ((v.secret?.value?.data.byteLength ?? 0) > SIZE_LIMITS.envValue ? `${what} environment variable '${v.name.slice(0, 64)}' secret is ${v.secret!.value!.data.byteLength} bytes; at most ${SIZE_LIMITS.envValue}` : undefined);
    if (vp) return vp;
  }
  return undefined;
}

function dataProblem(data: Uint8Array, what: string): string | undefined {
  return data.byteLength > SIZE_LIMITS.data ? `${what} data is ${data.byteLength} bytes; at most ${SIZE_LIMITS.data}` : undefined;
}

export function executorSizeProblem(executor: ExecutorInfo, what: string): string | undefined {
  return (
    tooLong(executor.name, SIZE_LIMITS.name, `${what} executor name`) ??
    tooLong(executor.executorId?.value ?? "", SIZE_LIMITS.id, `${what} executor_id`) ??
    (executor.command ? commandSizeProblem(executor.command, `${what} executor command`) : undefined) ??
    labelsSizeProblem(executor.labels, `${what} executor`) ??
    dataProblem(executor.data, `${what} executor`)
  );
}

export function taskSizeProblem(task: TaskInfo, what: string): string | undefined {
  return (
    tooLong(task.name, SIZE_LIMITS.name, `${what} name`) ??
    tooLong(task.taskId?.value ?? "", SIZE_LIMITS.id, `${what} task_id`) ??
    (task.command ? commandSizeProblem(task.command, `${what} command`) : undefined) ??
    (task.executor ? executorSizeProblem(task.executor, what) : undefined) ??
    labelsSizeProblem(task.labels, what) ??
    dataProblem(task.data, what)
  );
}
