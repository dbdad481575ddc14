/**
 * `dcos-node --role=agent`: the agent actor on a node, its local ExecutorService and a
 * containerizer with the isolators of `--isolation`.
 */
import { mkdir } from "node:fs/promises";
import { startAgentNode, type AgentNode } from "../actors/agent/agent-node.js";
import type { CommandExecutorMode } from "../actors/agent/agent-options.js";
import { containerizerFor } from "../isolation/containerizers-flag.js";
import { Code, DcosError } from "../runtime/error.js";
import { Pid } from "../runtime/pid.js";
import type { Logger } from "../runtime/log.js";
import { startNode, type Node } from "./node.js";
import type { TlsMaterial } from "../security/pki/tls-files.js";
import { availableParallelism } from "node:os";
import { parseResources } from "../resources/parse.js";
import { startAgentHttp } from "../operator/agent-http.js";
import type { RunningHttp } from "../operator/http-server.js";
import { serviceSecurity, type SecurityConfig } from "../security/auth/security-config.js";
import type { ProtectedPath } from "../isolation/host-paths.js";

export interface AgentRoleOptions {
  /** Mutual TLS with this agent's certificate (see NodeOptions.tls); default plaintext. */
  tls?: TlsMaterial;
  ip: string;
  port: number;
  hostname: string;
  /** host:port of the master, or of every replicated master comma-separated (`a:5050,b:5050,c:5050`). */
  master: string;
  workDir: string;
  resources?: string;
  attributes?: string;
  isolation: string;
  /** `--containerizers` (default "mesos"). */
  containerizers?: string;
  /** Actor name; several agents in one process (dev) need distinct ones. */
  name?: string;
  logger: Logger;
  /** HTTP port for operators (/state, /metrics, /files); 0 picks one. */
  httpPort: number;
  version: string;
  /** Flags as given, for /flags and /state. */
  flags: Record<string, unknown>;
  /** Who may use the agent's HTTP endpoint (default: open, permissive). */
  security?: SecurityConfig;
  /** Run tasks as their framework's or command's user (needs root). */
  switchUser?: boolean;
  /** Where reference secrets are read from (`--secrets-dir`). */
  secretsDir?: string;
  /** `--allowed-host-paths`, parsed (default: anywhere not protected). */
  allowedHostPaths?: readonly string[];
  /** The node's key, credential and secrets files, which no task may mount. */
  protectedHostPaths?: readonly ProtectedPath[];
  /** Who runs command tasks (`--command-executor`; default agent). */
  commandExecutor?: CommandExecutorMode;
  /**
   * `--recovery-timeout` (default 15 min): how long the warm launcher and executors wait for
   * an agent that went away before they kill its tasks.
   */
  recoveryTimeoutMs?: number;
  /** `--runtime-dir`: the containers' runtime directories (default: tmpfs when there is one; isolation/runtime-root.ts). */
  runtimeDir?: string;
}

export interface RunningAgent {
  readonly node: Node;
  readonly agentNode: AgentNode;
  readonly address: string;
  readonly http: RunningHttp;
  stop(): Promise<void>;
}

export async function startAgentRole(o: AgentRoleOptions): Promise<RunningAgent> {
  await mkdir(o.workDir, { recursive: true });
  const node = await startNode({ ip: o.ip, port: o.port, logger: o.logger, ...(o.tls ? { tls: o.tls } : {}) });
  try {
    const containerizer = await containerizerFor({
      containerizers: o.containerizers ?? "mesos",
      isolation: o.isolation,
      workDir: o.workDir,
      cpus: agentCpus(o.resources),
      logger: o.logger,
      metrics: node.metrics,
      ...(o.recoveryTimeoutMs === undefined ? {} : { recoveryTimeoutMs: o.recoveryTimeoutMs }),
      ...(o.runtimeDir ? { runtimeDir: o.runtimeDir } : {}),
    });
    // HTTP first: the agent tells the master its port when it registers.
    let agentNode: AgentNode | undefined;
    const http = await startAgentHttp({
      security: serviceSecurity(o.security, node.metrics),
      host: o.ip,
      port: o.httpPort,
      agent: () => agentNode?.agent,
      workDir: o.workDir,
      master: o.master,
      metrics: node.metrics,
      version: o.version,
      flags: o.flags,
      logger: o.logger,
    });
    node.onStop(() => http.close());
    agentNode = await startAgentNode({
      system: node.system,
      master: masterPids(o.master)[0]!,
      masters: masterPids(o.master),
      workDir: o.workDir,
      containerizer,
      resources: o.resources,
      attributes: o.attributes,
      hostname: o.hostname,
      httpPort: Number(http.address.split(":").at(-1)),
      name: o.name,
      executorHost: "127.0.0.1",
      switchUser: o.switchUser,
      secretsDir: o.secretsDir,
      allowedHostPaths: o.allowedHostPaths,
      protectedHostPaths: o.protectedHostPaths,
      commandExecutor: o.commandExecutor,
      ...(o.recoveryTimeoutMs === undefined ? {} : { executorRecoveryTimeoutMs: o.recoveryTimeoutMs }),
      logger: o.logger,
    });
    const started = agentNode;
    node.onStop(() => started.stop());
    o.logger.info(`Agent ${node.address}, HTTP http://${http.address} (work dir ${o.workDir}, isolation ${o.isolation}) registering with master ${o.master}`);
    return { node, agentNode, address: node.address, http, stop: () => node.stop() };
  } catch (err) {
    await node.stop();
    throw err;
  }
}

/** The master actors' pids of `--master=a:5050,b:5050` (INVALID_ARGUMENT on a bad entry). */
export function masterPids(list: string): Pid[] {
  const entries = list.split(",").map((a) => a.trim()).filter((a) => a !== "");
  if (entries.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "--master names no master: give host:port, or several comma-separated");
  return entries.map((a) => {
    const pid = Pid.tryParse(`master@${a}`);
    if (!pid) throw new DcosError(Code.INVALID_ARGUMENT, `--master entry '${a}' is not host:port`);
    return pid;
  });
}

/**
 * The CPUs the agent offers (its --resources, else the host's): the CPU weight all its
 * cgroups share against the rest of the host, so tasks are not starved by the kernel's
 * default weight for one process.
 */
function agentCpus(resources: string | undefined): number {
  const fromFlag = resources ? parseResources(resources).scalar("cpus") : 0;
  return fromFlag > 0 ? fromFlag : availableParallelism();
}
