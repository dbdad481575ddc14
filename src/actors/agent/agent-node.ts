/**
 * An agent with everything it needs in one process: the local ExecutorService (gRPC, on
 * 127.0.0.1 by default), a containerizer (posix unless one is given) and the agent actor
 * spawned on the caller's actor system. This is what `dcos-node --role=agent` starts.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Containerizer } from "../../isolation/containerizer.js";
import { PosixContainerizer } from "../../isolation/posix.js";
import { chooseRuntimeRoot } from "../../isolation/runtime-root.js";
import type { Logger } from "../../runtime/log.js";
import type { ActorSystem } from "../../runtime/system.js";
import { Agent } from "./agent.js";
import type { AgentOptions } from "./agent-options.js";
import { metaDir } from "./checkpoint.js";
import { writeAtomically } from "./durable.js";
import { NodeFileSystem } from "../../runtime/file-system.js";
import { ExecutorServer } from "./executor-service.js";
import { ExecutorTokens } from "./executor-tokens.js";
import { SecretResolver } from "./secrets.js";

export interface AgentNodeOptions extends Omit<AgentOptions, "executorEndpoint" | "containerizer"> {
  system: ActorSystem;
  /** Default: a PosixContainerizer with its runtime directories under `<workDir>/containers` (a link to tmpfs when there is one: isolation/runtime-root.ts). */
  containerizer?: Containerizer;
  /** Where the ExecutorService listens; default 127.0.0.1 on a free port. */
  executorHost?: string;
  executorPort?: number;
  logger?: Logger;
  /** Where reference secrets are read from (`--secrets-dir`; see secrets.ts). */
  secretsDir?: string;
}

export interface AgentNode {
  agent: Agent;
  executorEndpoint: string;
  containerizer: Containerizer;
  /** Stops the agent actor and the ExecutorService; containers keep running. */
  stop(): Promise<void>;
}

/**
 * Executors keep the endpoint they were started with, so a restarted agent listens where
 * the previous one did (remembered in `<work>/meta/executor-endpoint.json`) when it can.
 */
async function listenForExecutors(options: AgentNodeOptions, tokens: ExecutorTokens): Promise<{ server: ExecutorServer; endpoint: string }> {
  const file = join(metaDir(options.workDir), "executor-endpoint.json");
  let port = options.executorPort;
  if (port === undefined) {
    try {
      port = (JSON.parse(await readFile(file, "utf8")) as { port?: number }).port;
    } catch {
      port = undefined;
    }
  }
  let server = new ExecutorServer({ host: options.executorHost, port: port ?? 0, logger: options.logger, tokens, metrics: options.system.metrics });
  let endpoint: string;
  try {
    endpoint = await server.listen();
  } catch (err) {
    if (options.executorPort !== undefined || port === undefined) throw err;
    options.logger?.warn({ port }, `Port ${port} of the previous executor service is taken; executors from before the restart cannot reconnect`);
    server = new ExecutorServer({ host: options.executorHost, port: 0, logger: options.logger, tokens, metrics: options.system.metrics });
    endpoint = await server.listen();
  }
  await writeAtomically(new NodeFileSystem(), file, JSON.stringify({ port: Number(endpoint.split(":").at(-1)) }) + "\n");
  return { server, endpoint };
}

export async function startAgentNode(options: AgentNodeOptions): Promise<AgentNode> {
  const { system, logger, executorHost: _host, executorPort: _port, secretsDir: _secretsDir, ...agentOptions } = options;
  const executorTokens = await ExecutorTokens.load(metaDir(options.workDir));
  const secrets = options.secrets ?? (await SecretResolver.load(metaDir(options.workDir), options.secretsDir));
  const { server, endpoint: executorEndpoint } = await listenForExecutors(options, executorTokens);
  const containerizer = options.containerizer ?? new PosixContainerizer({
    runtimeRoot: chooseRuntimeRoot(options.workDir, { warn: (msg, fields) => logger?.warn(fields ?? {}, msg) }).path,
    logger,
    metrics: system.metrics,
    ...(options.executorRecoveryTimeoutMs === undefined ? {} : { recoveryTimeoutMs: options.executorRecoveryTimeoutMs }),
  });
  // No task may mount the secrets directory as a host path.
  const protectedHostPaths = [...(options.protectedHostPaths ?? []), ...(options.secretsDir ? [{ path: options.secretsDir, what: "the agent's --secrets-dir" }] : [])];
  const agent = system.spawn(new Agent({ ...agentOptions, containerizer, executorEndpoint, executorTokens, secrets, protectedHostPaths }));
  server.attach(agent);
  return {
    agent,
    executorEndpoint,
    containerizer,
    stop: async () => {
      system.terminate(agent);
      containerizer.detach();
      await server.stop();
    },
  };
}
