/**
 * For real-process tests: a scripted master (registers the agent, acknowledges every
 * update) and a real agent node (posix containerizer, gRPC ExecutorService, the real
 * built-in executors) on an in-process network, with a restart of the agent that leaves
 * its containers running.
 */
import { create } from "@bufbuild/protobuf";
import { chmod, mkdtemp, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunTaskSchema, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskInfoSchema, TaskState, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentPhase } from "../../src/actors/agent/agent.js";
import { startAgentNode, type AgentNode } from "../../src/actors/agent/agent-node.js";
import type { Containerizer } from "../../src/isolation/containerizer.js";
import { WORK_DIR_ENTRY } from "../../src/isolation/runtime-root.js";
import type { CommandExecutorMode } from "../../src/actors/agent/agent-options.js";
import type { LaunchTrace } from "../../src/actors/agent/launch-trace.js";
import { scalarResource } from "../../src/resources/index.js";
import { testLogger, type Logger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { InProcessNetwork } from "../../src/runtime/transports/in-process.js";
import { framework, ScriptedMaster } from "../agent/harness.js";
import { waitFor } from "../support/wait.js";

export interface Cluster {
  master: ScriptedMaster;
  node: AgentNode;
  workDir: string;
  /** Stops the agent node (containers keep running) and starts a new one on the same work dir; `whileDown` runs in between. */
  restartAgent(whileDown?: () => Promise<unknown>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `containerizer` makes the agent's containerizer from the work dir (default: the node's posix one).
 * `keptWorkDirs`: stop() leaves the work dir on disk and adds it here, for the caller to remove
 * later (the containers bench removes its runs' work dirs at its end, so that a run does not
 * make its sandboxes among the inodes the previous run's removal just freed).
 */
export async function startCluster(containerizer?: (workDir: string) => Containerizer, agentOptions: { switchUser?: boolean; logger?: Logger; secretsDir?: string; commandExecutor?: CommandExecutorMode; launchTrace?: LaunchTrace } = {}, keptWorkDirs?: string[]): Promise<Cluster> {
  const workDir = await mkdtemp(join(tmpdir(), "dcos-agent-real-"));
  // Tasks switched to another user reach their sandbox through it.
  if (agentOptions.switchUser) await chmod(workDir, 0o755);
  const net = new InProcessNetwork();
  const logger = agentOptions.logger ?? testLogger();
  const masterSystem = new ActorSystem({ transport: net.transport("master-host:5050"), logger });
  await masterSystem.start();
  const master = masterSystem.spawn(new ScriptedMaster(true));
  const startAgent = async (): Promise<{ system: ActorSystem; node: AgentNode }> => {
    const system = new ActorSystem({ transport: net.transport("agent-host:5051"), logger });
    await system.start();
    const node = await startAgentNode({ system, master: master.self, workDir, resources: "cpus:2;mem:1024;disk:1024", logger, containerizer: containerizer?.(workDir), ...agentOptions });
    await waitFor(() => node.agent.agentState === AgentPhase.RUNNING, "the agent to register");
    return { system, node };
  };
  let agent = await startAgent();
  const cluster: Cluster = {
    master,
    node: agent.node,
    workDir,
    restartAgent: async (whileDown) => {
      await agent.node.stop();
      await agent.system.stop();
      await whileDown?.();
      agent = await startAgent();
      cluster.node = agent.node;
    },
    stop: async () => {
      const node = agent.node;
      for (const id of node.containerizer.containers()) await node.containerizer.destroy(id, 0).catch(() => undefined);
      await node.stop();
      await agent.system.stop();
      await masterSystem.stop();
      await removeRuntimeRoot(workDir);
      if (keptWorkDirs) keptWorkDirs.push(workDir);
      else await rm(workDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
    },
  };
  return cluster;
}

/** The containers' runtime directories on tmpfs that `<workDir>/containers` links to, if it does (src/isolation/runtime-root.ts). */
export async function removeRuntimeRoot(workDir: string): Promise<void> {
  const target = await readlink(join(workDir, WORK_DIR_ENTRY)).catch(() => undefined);
  if (target) await rm(target, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
}

export function task(id: string, command: string, killGraceSeconds?: number): TaskInfo {
  return create(TaskInfoSchema, {
    name: id,
    taskId: { value: id },
    agentId: { value: "agent-1" },
    resources: [scalarResource("cpus", 0.1), scalarResource("mem", 32)],
    command: { value: command },
    killPolicy: killGraceSeconds === undefined ? undefined : { gracePeriodSeconds: killGraceSeconds },
  });
}

export function statusOf(c: Cluster, taskId: string, state: TaskState): StatusUpdate | undefined {
  return c.master.of<StatusUpdate>("StatusUpdate").find((u) => u.status?.taskId?.value === taskId && u.status.state === state);
}

export function statesOf(c: Cluster, taskId: string): string[] {
  return c.master.of<StatusUpdate>("StatusUpdate").filter((u) => u.status?.taskId?.value === taskId).map((u) => TaskState[u.status!.state]);
}

export function runTask(c: Cluster, t: TaskInfo): void {
  c.master.tell(c.node.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: t, role: "*" }));
}
