/**
 * The agent on an in-process network with a scripted master actor, a fake containerizer
 * and fake executors that talk to the agent's ExecutorApi directly. Time is a ManualClock;
 * `until` settles the actors (and real file I/O) without moving time.
 */
import { create, type Message } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutorEvent } from "../../src/gen/dcos/v1/executor_pb.js";
import {
  AgentPongSchema,
  AgentRegisteredSchema,
  StatusUpdateAcknowledgementSchema,
  ExitedExecutorSchema,
  FrameworkMessageSchema,
  RegisterAgentSchema,
  ReregisterAgentSchema,
  StatusUpdateSchema,
  type StatusUpdate,
} from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState, TaskStatusSchema } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Metrics } from "../../src/metrics/registry.js";
import { Agent } from "../../src/actors/agent/agent.js";
import type { AgentOptions } from "../../src/actors/agent/agent-options.js";
import type { ExecutorLink } from "../../src/actors/agent/executor-link.js";
import { newUuid } from "../../src/actors/agent/status-update.js";
import { Actor } from "../../src/runtime/actor.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { testLogger } from "../../src/runtime/log.js";
import type { Pid } from "../../src/runtime/pid.js";
import { Random } from "../../src/runtime/random.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { InProcessNetwork } from "../../src/runtime/transports/in-process.js";
import { FakeContainerizer } from "../support/fake-containerizer.js";
import { waitFor } from "../support/wait.js";

/** A master that records what it receives and sends what the test tells it to. */
export class ScriptedMaster extends Actor {
  readonly received: { type: string; message: Message; from: Pid }[] = [];

  /** With autoRespond it registers every agent (as agent-1) and acknowledges every update. */
  constructor(private readonly autoRespond = false) {
    super("master");
    for (const schema of [RegisterAgentSchema, ReregisterAgentSchema, AgentPongSchema, StatusUpdateSchema, ExitedExecutorSchema, FrameworkMessageSchema]) {
      this.install(schema, (m, from) => {
        this.received.push({ type: schema.typeName.replace("dcos.v1.", ""), message: m, from });
        if (this.autoRespond) this.respond(m, from);
      });
    }
  }

  private respond(m: Message, from: Pid): void {
    if (m.$typeName === RegisterAgentSchema.typeName) {
      this.send(from, create(AgentRegisteredSchema, { agentId: { value: "agent-1" }, pingIntervalSeconds: 60 }));
    } else if (m.$typeName === StatusUpdateSchema.typeName) {
      const u = m as StatusUpdate;
      this.send(from, create(StatusUpdateAcknowledgementSchema, { agentId: u.agentId, frameworkId: u.frameworkId, taskId: u.status?.taskId, uuid: u.uuid }));
    }
  }

  tell(to: Pid, message: Message): void {
    this.send(to, message);
  }

  of<T extends Message>(type: string): T[] {
    return this.received.filter((r) => r.type === type).map((r) => r.message as T);
  }

  /** Status updates as "task:STATE", in arrival order. */
  updates(): string[] {
    return this.of<StatusUpdate>("StatusUpdate").map((u) => `${u.status!.taskId!.value}:${TaskState[u.status!.state]}`);
  }
}

/** An executor's stream, recorded. */
export class FakeExecutorLink implements ExecutorLink {
  readonly events: ExecutorEvent[] = [];
  closed = false;

  send(event: ExecutorEvent): void {
    this.events.push(event);
  }

  close(): void {
    this.closed = true;
  }

  kinds(): string[] {
    return this.events.map((e) => e.kind.case ?? "?");
  }
}

export interface Harness {
  clock: ManualClock;
  master: ScriptedMaster;
  agent: Agent;
  containerizer: FakeContainerizer;
  metrics: Metrics;
  workDir: string;
  /** Settles until pred holds (real I/O included), without moving the clock. */
  until(pred: () => boolean, what: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startHarness(options: Partial<AgentOptions> = {}, seed = 7): Promise<Harness> {
  const workDir = await mkdtemp(join(tmpdir(), "dcos-agent-"));
  const clock = new ManualClock();
  const net = new InProcessNetwork();
  const logger = testLogger();
  const masterSystem = new ActorSystem({ clock, transport: net.transport("master-host:5050"), logger });
  const metrics = new Metrics();
  const agentSystem = new ActorSystem({ clock, transport: net.transport("agent-host:5051"), logger, metrics });
  await masterSystem.start();
  await agentSystem.start();
  const master = masterSystem.spawn(new ScriptedMaster());
  const containerizer = new FakeContainerizer();
  const agent = agentSystem.spawn(
    new Agent({
      master: master.self,
      workDir,
      containerizer,
      executorEndpoint: "127.0.0.1:1",
      hostFacts: { cpus: 4, memBytes: 8 * 1024 ** 3, diskBytes: 100 * 1024 ** 3 },
      hostname: "agent-host",
      random: new Random(seed),
      ...options,
    }),
  );
  const until = async (pred: () => boolean, what: string): Promise<void> => {
    await waitFor(async () => {
      await clock.settle();
      return pred();
    }, `${what} (seed ${seed})`, 5_000, 1);
  };
  return {
    clock,
    master,
    agent,
    containerizer,
    metrics,
    workDir,
    until,
    stop: async () => {
      await agentSystem.stop();
      await masterSystem.stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** A status an executor sends. */
export function executorStatus(taskId: string, state: TaskState, message = "") {
  return create(TaskStatusSchema, { taskId: { value: taskId }, state, uuid: newUuid(), message });
}
