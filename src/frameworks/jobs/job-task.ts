/**
 * The TaskInfo of one attempt of a job's run: the command through the shell (or the
 * command and `arguments` when `shell` is false), Chronos's environment, fetched URIs,
 * the Docker container, and the job's resources picked from the offer.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Volume_Mode } from "../../gen/dcos/v1/resources_pb.js";
import { ContainerInfo_DockerInfo_Network, ContainerInfo_Type, TaskInfoSchema, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import type { JobSpec } from "./job-spec.js";
import type { Run } from "./ledger.js";

/** The environment Chronos gave a job's task, plus the job's own variables. */
export function jobEnvironment(spec: JobSpec, run: Run, taskId: string): Record<string, string> {
  const env: Record<string, string> = {
    mesos_task_id: taskId,
    MESOS_TASK_ID: taskId,
    CHRONOS_JOB_NAME: spec.name,
    CHRONOS_JOB_OWNER: spec.owner,
    CHRONOS_JOB_RUN_TIME: new Date(run.instant).toISOString(),
    CHRONOS_RESOURCE_CPU: String(spec.cpus),
    CHRONOS_RESOURCE_MEM: String(spec.mem),
    CHRONOS_RESOURCE_DISK: String(spec.disk),
  };
  for (const v of spec.environmentVariables) env[v.name] = v.value;
  return env;
}

export function buildJobTask(spec: JobSpec, run: Run, taskId: string, agentId: string, resources: Resource[]): TaskInfo {
  const env = jobEnvironment(spec, run, taskId);
  const args = [...spec.arguments, ...(run.arguments ?? [])];
  const uris = [
    ...spec.fetch.map((f) => ({ value: f.uri, extract: f.extract ?? true, executable: f.executable ?? false, cache: f.cache ?? false, outputFile: f.outputFile ?? "" })),
    ...spec.uris.map((u) => ({ value: u, extract: true, executable: false, cache: false, outputFile: "" })),
  ];
  const shell = spec.shell;
  const command: MessageInitShape<typeof TaskInfoSchema>["command"] = {
    shell,
    // Chronos: with shell the command line runs as is (arguments ignored); without, argv = [command, ...arguments].
    value: spec.command,
    arguments: shell ? [] : [spec.command, ...args],
    user: spec.runAsUser ?? "",
    environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) },
    uris,
  };
  const task: MessageInitShape<typeof TaskInfoSchema> = {
    name: `ChronosTask:${spec.name}`,
    taskId: { value: taskId },
    agentId: { value: agentId },
    resources,
    labels: { labels: [{ key: "chronos_job", value: spec.name }] },
  };
  const container = dockerContainer(spec);
  if (spec.executor) {
    // A custom executor (Chronos's `executor`): the agent starts it with the job's
    // environment, URIs and user; the task's data tells it what to run (`taskInfoData`, else
    // the command and `executorFlags` as JSON). One executor per task: its environment names the task.
    task.executor = {
      executorId: { value: `chronos-executor-${taskId}` },
      name: `Chronos executor for ${spec.name}`,
      command: { shell: true, value: spec.executor, user: command.user ?? "", environment: command.environment, uris },
      ...(container ? { container } : {}),
    };
    const data = spec.taskInfoData || JSON.stringify({ command: spec.command, arguments: shell ? [] : args, shell, executorFlags: spec.executorFlags });
    task.data = new TextEncoder().encode(data);
    return create(TaskInfoSchema, task);
  }
  task.command = command;
  if (container) task.container = container;
  return create(TaskInfoSchema, task);
}

/** The Docker container of a job with one (Chronos's `container`). */
function dockerContainer(spec: JobSpec): MessageInitShape<typeof TaskInfoSchema>["container"] {
  const c = spec.container;
  if (c && String(c.type ?? "DOCKER").toUpperCase() === "DOCKER") {
    const net = String(c.network ?? "HOST").toUpperCase();
    return {
      type: ContainerInfo_Type.DOCKER,
      volumes: (c.volumes ?? []).map((v) => ({ containerPath: v.containerPath, hostPath: v.hostPath ?? "", mode: String(v.mode ?? "RW").toUpperCase() === "RO" ? Volume_Mode.RO : Volume_Mode.RW })),
      docker: {
        image: c.image,
        network: net === "BRIDGE" ? ContainerInfo_DockerInfo_Network.BRIDGE : net === "NONE" ? ContainerInfo_DockerInfo_Network.NONE : ContainerInfo_DockerInfo_Network.HOST,
        forcePullImage: c.forcePullImage === true,
        parameters: (c.parameters ?? []).map((p) => ({ key: p.key, value: p.value })),
      },
    };
  }
  return undefined;
}
