/**
 * The agent on an in-process network with a scripted master actor, a fake containerizer
 * and fake executors that talk to the agent's ExecutorApi directly. Time is a ManualClock;
 * `until` settles the actors (and real file I/O) without moving time. Given `fs` (an
 * in-memory CrashFs), the agent's disk is that and nothing touches the real one: then one
 * `clock.settle()` finishes every step, and the run is the same every time.
 */
import { create, type Message } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ExecutorServiceSubscribeRequestSchema,
  ExecutorServiceUpdateRequestSchema,
  type ExecutorEvent,
} from "../../src/gen/dcos/v1/executor_pb.js";
import {
  AgentPongSchema,
  AgentRegisteredSchema,
  AgentReregisteredSchema,
  RunTaskSchema,
  StatusUpdateAcknowledgementSchema,
  ExitedExecutorSchema,
  FrameworkMessageSchema,
  RegisterAgentSchema,
  ReregisterAgentSchema,
  StatusUpdateSchema,
  type StatusUpdate,
} from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskInfoSchema, TaskState, TaskStatusSchema, type TaskInfo, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { Agent, AgentPhase } from "../../src/actors/agent/agent.js";
import { ExecutorPhase } from "../../src/actors/agent/agent-records.js";
import { rangesResource, scalarResource } from "../../src/resources/index.js";
import type { AgentOptions } from "../../src/actors/agent/agent-options.js";
import type { ExecutorLink } from "../../src/actors/agent/executor-link.js";
import { Actor } from "../../src/runtime/actor.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { testLogger } from "../../src/runtime/log.js";
import type { Pid } from "../../src/runtime/pid.js";
import { Random } from "../../src/runtime/random.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { InProcessNetwork } from "../../src/runtime/transports/in-process.js";
import { FakeContainerizer } from "../support/fake-containerizer.js";
import { waitFor } from "../support/wait.js";
import { testSeed } from "../support/seed.js";

/** A master that records what it receives and sends what the test tells it to. */
export class ScriptedMaster extends Actor {
  /** What came, with when (`at`, ms on the clock). */
  readonly received: { type: string; message: Message; from: Pid; at: number }[] = [];

  /** With autoRespond it registers every agent (as agent-1) and acknowledges every update. */
  constructor(private readonly autoRespond = false) {
    super("master");
    for (const schema of [RegisterAgentSchema, ReregisterAgentSchema, AgentPongSchema, StatusUpdateSchema, ExitedExecutorSchema, FrameworkMessageSchema]) {
      this.install(schema, (m, from) => {
        this.received.push({ type: schema.typeName.replace("dcos.v1.", ""), message: m, from, at: this.clock.now() });
        if (this.autoRespond) this.respond(m, from);
      });
    }
  }

  private respond(m: Message, from: Pid): void {
    if (m.$typeName === RegisterAgentSchema.typeName) {
      this.send(from, create(AgentRegisteredSchema, { agentId: { value: "agent-1" }, pingIntervalSeconds: 60 }));
    } else if (m.$typeName === ReregisterAgentSchema.typeName) {
      this.send(from, create(AgentReregisteredSchema, { agentId: { value: "agent-1" }, pingIntervalSeconds: 60 }));
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
  /** Stops the agent's node (containers keep running) and starts a new agent on the same work dir. */
  restartAgent(options?: Partial<AgentOptions>): Promise<void>;
  stop(): Promise<void>;
}

/** The agent's work directory on an in-memory disk. */
export const MEMORY_WORK_DIR = "/var/lib/dcos-agent";

export async function startHarness(options: Partial<AgentOptions> = {}, seed = 7): Promise<Harness> {
  const inMemory = options.fs !== undefined;
  const workDir = inMemory ? MEMORY_WORK_DIR : await mkdtemp(join(tmpdir(), "dcos-agent-"));
  const clock = new ManualClock();
  const net = new InProcessNetwork();
  const logger = testLogger();
  const masterSystem = new ActorSystem({ clock, transport: net.transport("master-host:5050"), logger });
  await masterSystem.start();
  const master = masterSystem.spawn(new ScriptedMaster());
  const containerizer = new FakeContainerizer();
  const startAgent = async (extra: Partial<AgentOptions>): Promise<{ system: ActorSystem; agent: Agent; metrics: Metrics }> => {
    const metrics = new Metrics();
    const system = new ActorSystem({ clock, transport: net.transport("agent-host:5051"), logger, metrics });
    await system.start();
    const agent = system.spawn(
      new Agent({
        master: master.self,
        workDir,
        containerizer,
        executorEndpoint: "127.0.0.1:1",
        hostFacts: { cpus: 4, memBytes: 8 * 1024 ** 3, diskBytes: 100 * 1024 ** 3 },
        hostname: "agent-host",
        random: new Random(seed),
        // Fake executors speak the executor protocol; the agent's own command tasks: commandExecutor "agent" (direct-tasks.test.ts).
        commandExecutor: "process",
        ...extra,
      }),
    );
    return { system, agent, metrics };
  };
  let current = await startAgent(options);
  const until = async (pred: () => boolean, what: string): Promise<void> => {
    await waitFor(async () => {
      await clock.settle();
      return pred();
    }, `${what} (seed ${seed})`, 5_000, 1);
  };
  const h: Harness = {
    clock,
    master,
    agent: current.agent,
    containerizer,
    metrics: current.metrics,
    workDir,
    until,
    restartAgent: async (extra = {}) => {
      await current.system.stop();
      current = await startAgent({ ...options, ...extra });
      h.agent = current.agent;
      h.metrics = current.metrics;
    },
    stop: async () => {
      await current.system.stop();
      await masterSystem.stop();
      // Checkpoint writes of the stopped agent may still land: retry on ENOTEMPTY.
      if (!inMemory) await rm(workDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
    },
  };
  return h;
}

/** Uuids of the statuses tests' executors send: seeded (DCOS_TEST_SEED), so a run replays. */
const statusUuids = new Random(testSeed(1));

/** A status an executor sends. */
export function executorStatus(taskId: string, state: TaskState, message = "") {
  return create(TaskStatusSchema, { taskId: { value: taskId }, state, uuid: statusUuids.uuidBytes(), message });
}

export const framework = { id: { value: "fw-1" }, name: "test", user: "nobody", roles: ["*"] };

/** A command task with half a CPU, 64 MB and two ports. */
export function commandTask(id: string, killGraceSeconds?: number): TaskInfo {
  return create(TaskInfoSchema, {
    name: id,
    taskId: { value: id },
    agentId: { value: "agent-1" },
    resources: [scalarResource("cpus", 0.5), scalarResource("mem", 64), rangesResource("ports", [{ begin: 31001, end: 31002 }])],
    command: { value: "sleep 100" },
    killPolicy: killGraceSeconds === undefined ? undefined : { gracePeriodSeconds: killGraceSeconds },
  });
}

/** Answers the agent's (re)registration as agent-1 and waits until it is RUNNING. */
export async function admit(x: Harness, pingIntervalSeconds = 60, reregister = false): Promise<void> {
  const type = reregister ? "ReregisterAgent" : "RegisterAgent";
  await x.until(() => x.master.of(type).length > 0, `a ${type} at the master`);
  const schema = reregister ? AgentReregisteredSchema : AgentRegisteredSchema;
  x.master.tell(x.agent.self, create(schema, { agentId: { value: "agent-1" }, pingIntervalSeconds }));
  await x.until(() => x.agent.agentState === AgentPhase.RUNNING, "the agent registered");
}

/** Subscribes a fake executor; returns its link. */
export async function subscribeExecutor(x: Harness, executorId: string, unacknowledgedTasks: TaskInfo[] = []): Promise<FakeExecutorLink> {
  const link = new FakeExecutorLink();
  await x.agent.subscribe(create(ExecutorServiceSubscribeRequestSchema, { frameworkId: { value: "fw-1" }, executorId: { value: executorId }, unacknowledgedTasks }), link);
  return link;
}

/** Runs a command task, waits for its container, and subscribes its executor. */
export async function runAndSubscribe(x: Harness, task = commandTask("t1")): Promise<FakeExecutorLink> {
  x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task, role: "*" }));
  await x.until(() => x.agent.executorOf("fw-1", task.taskId!.value)?.phase === ExecutorPhase.REGISTERING, "the executor container launched");
  return subscribeExecutor(x, task.taskId!.value);
}

export function sendUpdate(x: Harness, executorId: string, status: TaskStatus): Promise<void> {
  return x.agent.update(create(ExecutorServiceUpdateRequestSchema, { frameworkId: { value: "fw-1" }, executorId: { value: executorId }, status }));
}
