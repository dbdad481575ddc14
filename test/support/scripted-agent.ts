/**
 * A scripted agent for master tests: speaks internal.proto like a real agent (registers,
 * answers pings, sends status updates and executor exits when told) and records every
 * message the master sends it. It runs no tasks; the test decides what happens to them.
 */
import { create, type DescMessage, type Message, type MessageShape } from "@bufbuild/protobuf";
import { AgentInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { AgentIDSchema, ExecutorIDSchema, FrameworkIDSchema, TaskIDSchema } from "../../src/gen/dcos/v1/common_pb.js";
import {
  AgentPingSchema,
  AgentPongSchema,
  AgentRegisteredSchema,
  AgentReregisteredSchema,
  CheckpointResourcesSchema,
  ExitedExecutorSchema,
  FrameworkMessageSchema,
  KillTaskSchema,
  ReconcileAgentTasksSchema,
  RegisterAgentSchema,
  ReregisterAgentSchema,
  RunTaskGroupSchema,
  RunTaskSchema,
  ShutdownAgentSchema,
  ShutdownExecutorSchema,
  ShutdownFrameworkSchema,
  StatusUpdateAcknowledgementSchema,
  StatusUpdateSchema,
  UpdateFrameworkSchema,
} from "../../src/gen/dcos/v1/internal_pb.js";
import type { Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { TaskStatusSchema, TaskStatus_Source, type Task, type TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Actor } from "../../src/runtime/actor.js";
import type { Pid } from "../../src/runtime/pid.js";

const RECORDED: DescMessage[] = [
  AgentRegisteredSchema,
  AgentReregisteredSchema,
  RunTaskSchema,
  RunTaskGroupSchema,
  KillTaskSchema,
  ShutdownExecutorSchema,
  ShutdownFrameworkSchema,
  StatusUpdateAcknowledgementSchema,
  UpdateFrameworkSchema,
  FrameworkMessageSchema,
  ShutdownAgentSchema,
  CheckpointResourcesSchema,
  ReconcileAgentTasksSchema,
];

export class ScriptedAgent extends Actor {
  readonly received: Message[] = [];
  agentId = "";
  /** When false, pings go unanswered (a partitioned or hung agent). */
  answerPings = true;
  pings = 0;
  private uuidSeq = 0;

  constructor(
    name: string,
    readonly hostname: string,
    readonly resources: Resource[],
    private readonly master: Pid,
  ) {
    super(name);
    for (const schema of RECORDED) this.install(schema, (m) => this.received.push(m));
    // Replace the generic recorder for the two messages that carry our id.
    this.handlers.delete(AgentRegisteredSchema.typeName);
    this.handlers.delete(AgentReregisteredSchema.typeName);
    this.install(AgentRegisteredSchema, (m) => {
      this.agentId = m.agentId?.value ?? "";
      this.received.push(m);
    });
    this.install(AgentReregisteredSchema, (m) => {
      this.agentId = m.agentId?.value ?? "";
      this.received.push(m);
    });
    this.install(AgentPingSchema, () => {
      this.pings++;
      if (this.answerPings) this.send(this.master, create(AgentPongSchema));
    });
  }

  private info() {
    return create(AgentInfoSchema, { hostname: this.hostname, resources: this.resources, id: this.agentId ? create(AgentIDSchema, { value: this.agentId }) : undefined });
  }

  register(): void {
    this.system.send(this.self, this.master, create(RegisterAgentSchema, { agentInfo: this.info(), version: "test" }));
  }

  reregister(tasks: Task[] = []): void {
    this.system.send(this.self, this.master, create(ReregisterAgentSchema, { agentInfo: this.info(), version: "test", tasks }));
  }

  /** Sends a status update (with a fresh uuid) as the agent's status update manager would; returns the uuid. */
  update(frameworkId: string, taskId: string, state: TaskState, options: { message?: string; uuid?: Uint8Array; latest?: TaskState; executorId?: string; timestamp?: number } = {}): Uint8Array {
    const uuid = options.uuid ?? new Uint8Array(16).fill(++this.uuidSeq % 256);
    const status = create(TaskStatusSchema, {
      taskId: create(TaskIDSchema, { value: taskId }),
      state,
      message: options.message ?? "",
      source: TaskStatus_Source.EXECUTOR,
      uuid,
      agentId: create(AgentIDSchema, { value: this.agentId }),
      timestamp: options.timestamp ?? 0,
    });
    this.tell(
      create(StatusUpdateSchema, {
        frameworkId: create(FrameworkIDSchema, { value: frameworkId }),
        agentId: create(AgentIDSchema, { value: this.agentId }),
        executorId: options.executorId ? create(ExecutorIDSchema, { value: options.executorId }) : undefined,
        status,
        uuid,
        latestState: options.latest ?? state,
      }),
    );
    return uuid;
  }

  executorExited(frameworkId: string, executorId: string, status: number): void {
    this.tell(
      create(ExitedExecutorSchema, {
        agentId: create(AgentIDSchema, { value: this.agentId }),
        frameworkId: create(FrameworkIDSchema, { value: frameworkId }),
        executorId: create(ExecutorIDSchema, { value: executorId }),
        status,
      }),
    );
  }

  executorMessage(frameworkId: string, executorId: string, data: Uint8Array): void {
    this.tell(
      create(FrameworkMessageSchema, {
        frameworkId: create(FrameworkIDSchema, { value: frameworkId }),
        executorId: create(ExecutorIDSchema, { value: executorId }),
        agentId: create(AgentIDSchema, { value: this.agentId }),
        data,
      }),
    );
  }

  tell(message: Message): void {
    this.system.send(this.self, this.master, message);
  }

  /** Messages of one type the master sent, in order. */
  messages<S extends DescMessage>(schema: S): MessageShape<S>[] {
    return this.received.filter((m) => m.$typeName === schema.typeName) as MessageShape<S>[];
  }
}
