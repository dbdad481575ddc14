/**
 * An agent with everything it needs in one process: the local ExecutorService (gRPC, on
 * 127.0.0.1 by default), a containerizer (posix unless one is given) and the agent actor
 * spawned on the caller's actor system. This is what `dcos-node --role=agent` starts.
 */
import { join } from "node:path";
import type { Containerizer } from "../../isolation/containerizer.js";
import { PosixContainerizer } from "../../isolation/posix.js";
import type { Logger } from "../../runtime/log.js";
import type { ActorSystem } from "../../runtime/system.js";
import { Agent } from "./agent.js";
import type { AgentOptions } from "./agent-options.js";
import { ExecutorServer } from "./executor-service.js";

export interface AgentNodeOptions extends Omit<AgentOptions, "executorEndpoint" | "containerizer"> {
  system: ActorSystem;
  /** Default: a PosixContainerizer with its runtime directory under `<workDir>/containers`. */
  containerizer?: Containerizer;
  /** Where the ExecutorService listens; default 127.0.0.1 on a free port. */
  executorHost?: string;
  executorPort?: number;
  logger?: Logger;
}

export interface AgentNode {
  agent: Agent;
  executorEndpoint: string;
  containerizer: Containerizer;
  /** Stops the agent actor and the ExecutorService; containers keep running. */
  stop(): Promise<void>;
}

export async function startAgentNode(options: AgentNodeOptions): Promise<AgentNode> {
  const { system, logger, executorHost, executorPort, ...agentOptions } = options;
  const server = new ExecutorServer({ host: executorHost, port: executorPort, logger });
  const executorEndpoint = await server.listen();
  const containerizer = options.containerizer ?? new PosixContainerizer({ runtimeRoot: join(options.workDir, "containers"), logger });
  const agent = system.spawn(new Agent({ ...agentOptions, containerizer, executorEndpoint }));
  server.attach(agent);
  return {
    agent,
    executorEndpoint,
    containerizer,
    stop: async () => {
      system.terminate(agent);
      await server.stop();
    },
  };
}
