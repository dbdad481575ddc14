/**
 * The TaskInfo of one app instance on one offer: the command (cmd through the shell, or
 * args), Marathon's environment ($PORT0…, $PORTS, $HOST, MARATHON_APP_ID…), the Docker
 * container with its port mappings, host path volumes in the ContainerInfo (a MESOS
 * container carries only those), fetched URIs, the kill grace period and the health
 * check the executor runs on the agent (AppSpec.executorCheck; the others are the scheduler's).
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Volume_Mode, type Resource } from "../../gen/dcos/v1/resources_pb.js";
import {
  ContainerInfo_DockerInfo_Network,
  ContainerInfo_Type,
  HealthCheck_Type,
  TaskInfoSchema,
  type HealthCheckSchema,
  type TaskInfo,
} from "../../gen/dcos/v1/tasks_pb.js";
import type { AppSpec, HealthCheckSpec } from "./app-definition.js";

export interface InstanceLaunch {
  taskId: string;
  agentId: string;
  host: string;
  version: string;
  resources: Resource[];
  ports: number[];
}

/** Marathon's environment for a task. */
export function taskEnvironment(spec: AppSpec, l: InstanceLaunch, labels: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {
    MARATHON_APP_ID: spec.id,
    MARATHON_APP_VERSION: l.version,
    MARATHON_APP_RESOURCE_CPUS: String(spec.cpus),
    MARATHON_APP_RESOURCE_MEM: String(spec.mem),
    MARATHON_APP_RESOURCE_DISK: String(spec.disk),
    MARATHON_APP_RESOURCE_GPUS: String(spec.gpus),
    MESOS_TASK_ID: l.taskId,
    HOST: l.host,
    PORTS: l.ports.join(","),
  };
  if (spec.docker) env["MARATHON_APP_DOCKER_IMAGE"] = spec.docker.image;
  const labelKeys = Object.keys(labels).filter((k) => /^[A-Za-z0-9_]+$/.test(k) && labels[k]!.length <= 512);
  env["MARATHON_APP_LABELS"] = labelKeys.join(" ");
  for (const k of labelKeys) env[`MARATHON_APP_LABEL_${k.toUpperCase()}`] = labels[k]!;
  l.ports.forEach((port, i) => {
    env[`PORT${i}`] = String(port);
    const def = spec.ports[i];
    if (def?.name) env[`PORT_${def.name.toUpperCase().replace(/[^A-Z0-9_]/g, "_")}`] = String(port);
    if (def && def.port !== 0) env[`PORT_${def.containerPort ?? def.port}`] = String(port);
  });
  if (l.ports.length > 0) env["PORT"] = String(l.ports[0]);
  return { ...env, ...spec.env };
}

function healthCheck(h: HealthCheckSpec, ports: number[]): MessageInitShape<typeof HealthCheckSchema> | undefined {
  const timing = {
    delaySeconds: h.delaySeconds,
    intervalSeconds: h.intervalSeconds,
    timeoutSeconds: h.timeoutSeconds,
    consecutiveFailures: h.maxConsecutiveFailures,
    gracePeriodSeconds: h.gracePeriodSeconds,
  };
  const port = h.port ?? ports[h.portIndex];
  switch (h.protocol) {
    case "COMMAND":
      return { type: HealthCheck_Type.COMMAND, command: { value: h.command ?? "", shell: true }, ...timing };
    case "TCP":
    case "MESOS_TCP":
      return port === undefined ? undefined : { type: HealthCheck_Type.TCP, tcp: { port }, ...timing };
    default:
      return port === undefined
        ? undefined
        : { type: HealthCheck_Type.HTTP, http: { scheme: h.protocol.endsWith("HTTPS") ? "https" : "http", port, path: h.path }, ...timing };
  }
}

export function buildTask(spec: AppSpec, l: InstanceLaunch, labels: Record<string, string>): TaskInfo {
  const env = taskEnvironment(spec, l, labels);
  // cmd: through the shell; args: an argv (in Docker, the image's CMD); neither (a Docker
  // image): shell=false with no value and no arguments, the image's default command.
  const hasCmd = spec.cmd !== undefined && spec.cmd.trim() !== "";
  const command: MessageInitShape<typeof TaskInfoSchema>["command"] = {
    shell: hasCmd,
    value: hasCmd ? spec.cmd! : spec.args && !spec.docker ? (spec.args[0] ?? "") : "",
    arguments: hasCmd ? [] : (spec.args ?? []),
    user: spec.user ?? "",
    environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) },
    uris: spec.fetch.map((f) => ({ value: f.uri, extract: f.extract, executable: f.executable, cache: f.cache, outputFile: f.destPath ?? "" })),
  };
  const task: MessageInitShape<typeof TaskInfoSchema> = {
    name: spec.id.split("/").filter(Boolean).reverse().join("."),
    taskId: { value: l.taskId },
    agentId: { value: l.agentId },
    resources: l.resources,
    command,
    labels: { labels: Object.entries(labels).map(([key, value]) => ({ key, value })) },
  };
  const volumes = spec.hostVolumes.map((v) => ({ hostPath: v.hostPath, containerPath: v.containerPath, mode: v.readOnly ? Volume_Mode.RO : Volume_Mode.RW }));
  if (!spec.docker && volumes.length > 0) task.container = { type: ContainerInfo_Type.MESOS, volumes };
  if (spec.docker) {
    const bridge = spec.docker.network === "BRIDGE";
    task.container = {
      type: ContainerInfo_Type.DOCKER,
      volumes,
      docker: {
        image: spec.docker.image,
        network: bridge ? ContainerInfo_DockerInfo_Network.BRIDGE : spec.docker.network === "NONE" ? ContainerInfo_DockerInfo_Network.NONE : ContainerInfo_DockerInfo_Network.HOST,
        privileged: spec.docker.privileged,
        forcePullImage: spec.docker.forcePullImage,
        parameters: spec.docker.parameters,
        portMappings: bridge ? spec.ports.map((p, i) => ({ hostPort: l.ports[i]!, containerPort: p.containerPort || l.ports[i]!, protocol: p.protocol })) : [],
      },
    };
  }
  const hc = spec.executorCheck === undefined ? undefined : spec.healthChecks[spec.executorCheck];
  const check = hc ? healthCheck(hc, l.ports) : undefined;
  if (check) task.healthCheck = check;
  if (spec.taskKillGracePeriodSeconds !== undefined) task.killPolicy = { gracePeriodSeconds: spec.taskKillGracePeriodSeconds };
  return create(TaskInfoSchema, task);
}
