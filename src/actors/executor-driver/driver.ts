/**
 * The executor library: a gRPC client of the agent's local ExecutorService. It subscribes,
 * hands events to callbacks or to an async iterator, and sends status updates and messages
 * as calls that return promises. Updates are kept until the agent says the scheduler
 * acknowledged them (ACKNOWLEDGED); if the stream breaks (the agent restarts), the driver
 * subscribes again with backoff and resends them, together with the tasks it was given
 * but has not reported on. The agent drops duplicates by uuid. A restarted agent that does
 * not know the executor yet (NOT_FOUND: it has not recovered it, or not yet) is asked again
 * until the recovery timeout, as Mesos executors do: only a refusal of a known executor
 * (FAILED_PRECONDITION: it is shutting down) or the timeout ends the driver.
 */
import * as grpc from "@grpc/grpc-js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ExecutorEventSchema,
  ExecutorService,
  ExecutorServiceMessageRequestSchema,
  ExecutorServiceSubscribeRequestSchema,
  ExecutorServiceUpdateRequestSchema,
  type ExecutorEvent,
  type ExecutorEvent_Subscribed,
  type ExecutorServiceSubscribeResponse,
  type ExecutorServiceUpdateRequest,
} from "../../gen/dcos/v1/executor_pb.js";
import { TaskStatusSchema, type KillPolicy, type TaskGroupInfo, type TaskInfo, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { Backoff } from "../../runtime/backoff.js";
import { Random } from "../../runtime/random.js";
import { clientConstructor, fromServiceError } from "../../runtime/grpc/service.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import { bearerChannelOptions } from "../../security/auth/client-credential.js";

export interface ExecutorDriverOptions {
  /** host:port of the agent's ExecutorService (DCOS_AGENT_ENDPOINT). */
  agentEndpoint: string;
  frameworkId: string;
  executorId: string;
  /** The token the agent gave (DCOS_EXECUTOR_TOKEN), sent on every call. */
  token?: string;
  logger?: Logger;
  /** First wait before subscribing again after the stream broke; doubles, with jitter. Default 250 ms. */
  reconnectMs?: number;
  maxReconnectMs?: number;
  /** The source of the reconnect jitter and of status update uuids (default: seeded from the OS). */
  random?: Random;
  /** Give up (error callback, iterator ends) after being disconnected this long. Default 15 min. */
  recoveryTimeoutMs?: number;
}

/** Callbacks for the events; all optional. */
export interface ExecutorCallbacks {
  subscribed?(event: ExecutorEvent_Subscribed): void;
  launch?(task: TaskInfo): void;
  launchGroup?(group: TaskGroupInfo): void;
  kill?(taskId: string, killPolicy: KillPolicy | undefined): void;
  acknowledged?(taskId: string, uuid: Uint8Array): void;
  message?(data: Uint8Array): void;
  shutdown?(gracePeriodSeconds: number): void;
  /** The agent refused the executor, or it could not be reached in time; the driver stopped. */
  error?(message: string): void;
}

/**
 * Whether the agent's refusal of a subscription ends the executor. Only FAILED_PRECONDITION
 * does (the agent knows the executor and is shutting it down); NOT_FOUND is asked again until
 * the recovery timeout (a restarted agent may not know it yet), like every transient error.
 */
export function refusalEndsExecutor(code: Code): boolean {
  return code === Code.FAILED_PRECONDITION;
}

const TRANSIENT = new Set<number>([Code.UNAVAILABLE, Code.CANCELLED, Code.DEADLINE_EXCEEDED, Code.UNKNOWN, Code.INTERNAL]);

type Client = grpc.Client & {
  subscribe(req: unknown): grpc.ClientReadableStream<ExecutorServiceSubscribeResponse>;
  update(req: unknown, cb: (err: grpc.ServiceError | null) => void): void;
  message(req: unknown, cb: (err: grpc.ServiceError | null) => void): void;
};

export class ExecutorDriver {
  private readonly client: Client;
  private readonly log: Logger;
  private stream: grpc.ClientReadableStream<ExecutorServiceSubscribeResponse> | undefined;
  private stopped = false;
  private connected = false;
  private disconnectedSince = Date.now();
  private readonly backoff: Backoff;
  private readonly random: Random;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly unacknowledged = new Map<string, ExecutorServiceUpdateRequest>();
  /** Tasks received and not yet reported on (resent on resubscription). */
  private readonly unreported = new Map<string, TaskInfo>();
  private readonly queue: ExecutorEvent[] = [];
  private readonly waiters: ((r: IteratorResult<ExecutorEvent>) => void)[] = [];
  private reconnected: (() => void)[] = [];

  constructor(
    private readonly options: ExecutorDriverOptions,
    private readonly callbacks: ExecutorCallbacks = {},
  ) {
    const Ctor = clientConstructor(ExecutorService);
    this.client = new Ctor(options.agentEndpoint, grpc.credentials.createInsecure(), bearerChannelOptions(options.token)) as unknown as Client;
    this.log = (options.logger ?? silentLogger()).child({ component: "executor-driver", executorId: options.executorId });
    this.random = options.random ?? Random.fromOs();
    const initialMs = options.reconnectMs ?? 250;
    this.backoff = new Backoff({ initialMs, maxMs: Math.max(initialMs, options.maxReconnectMs ?? 5_000) }, this.random);
  }

  /** Subscribes (and keeps subscribing after breaks) until stop(). */
  start(): void {
    this.subscribe();
  }

  /** Events in order, as an alternative to callbacks; ends when the driver stops. */
  events(): AsyncIterableIterator<ExecutorEvent> {
    const self = this;
    return {
      next(): Promise<IteratorResult<ExecutorEvent>> {
        const e = self.queue.shift();
        if (e) return Promise.resolve({ value: e, done: false });
        if (self.stopped) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => self.waiters.push(resolve));
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * Sends a status update (uuid and timestamp filled in when missing). Resolves once the
   * agent has stored it; across an agent restart it waits and sends again. Rejects for an
   * update the agent refuses (INVALID_ARGUMENT, NOT_FOUND, …).
   */
  async update(init: MessageInitShape<typeof TaskStatusSchema> | TaskStatus): Promise<TaskStatus> {
    const status = create(TaskStatusSchema, init as MessageInitShape<typeof TaskStatusSchema>);
    if (status.uuid.length === 0) status.uuid = this.random.uuidBytes();
    if (!status.timestamp) status.timestamp = Date.now() / 1000;
    const req = create(ExecutorServiceUpdateRequestSchema, {
      frameworkId: { value: this.options.frameworkId },
      executorId: { value: this.options.executorId },
      status,
    });
    const key = Buffer.from(status.uuid).toString("hex");
    this.unacknowledged.set(key, req);
    this.unreported.delete(status.taskId?.value ?? "");
    for (;;) {
      if (this.stopped) throw new DcosError(Code.CANCELLED, "The executor driver stopped before the update was stored");
      try {
        await this.unaryCall("update", req);
        return status;
      } catch (err) {
        const e = fromServiceError(err, "Status update");
        if (!TRANSIENT.has(e.code)) {
          this.unacknowledged.delete(key);
          throw e;
        }
        this.log.warn({ err: e.message }, "Status update not delivered; sending again after the agent is back");
        await this.untilReconnected();
      }
    }
  }

  /** Sends data to the framework's scheduler. */
  async message(data: Uint8Array): Promise<void> {
    await this.unaryCall(
      "message",
      create(ExecutorServiceMessageRequestSchema, { frameworkId: { value: this.options.frameworkId }, executorId: { value: this.options.executorId }, data }),
    ).catch((err: unknown) => {
      throw fromServiceError(err, "Framework message");
    });
  }

  /** Updates sent and not yet acknowledged by the scheduler. */
  pendingUpdates(): number {
    return this.unacknowledged.size;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stream?.cancel();
    this.client.close();
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
    for (const r of this.reconnected.splice(0)) r();
  }

  // ---- internals ---------------------------------------------------------------------

  private unaryCall(method: "update" | "message", req: unknown): Promise<void> {
    return new Promise((resolve, reject) => this.client[method](req, (err) => (err ? reject(err) : resolve())));
  }

  private untilReconnected(): Promise<void> {
    return new Promise((resolve) => this.reconnected.push(resolve));
  }

  private subscribe(): void {
    if (this.stopped) return;
    const req = create(ExecutorServiceSubscribeRequestSchema, {
      frameworkId: { value: this.options.frameworkId },
      executorId: { value: this.options.executorId },
      unacknowledgedUpdates: [...this.unacknowledged.values()],
      unacknowledgedTasks: [...this.unreported.values()],
    });
    const stream = this.client.subscribe(req);
    this.stream = stream;
    stream.on("data", (res: ExecutorServiceSubscribeResponse) => {
      if (res.event) this.dispatch(res.event);
    });
    let ended = false;
    const broken = (why: string, err?: unknown): void => {
      if (ended) return;
      ended = true;
      if (this.stream === stream) this.stream = undefined;
      if (this.stopped) return;
      const e = err === undefined ? undefined : fromServiceError(err);
      if (e && refusalEndsExecutor(e.code)) {
        this.fatal(`The agent refused this executor: ${e.message}`);
        return;
      }
      if (this.connected) this.disconnectedSince = Date.now();
      this.connected = false;
      const timeout = this.options.recoveryTimeoutMs ?? 15 * 60_000;
      if (Date.now() - this.disconnectedSince > timeout) {
        this.fatal(e?.code === Code.NOT_FOUND ? `The agent did not recover this executor within ${timeout} ms: ${e.message}` : `The agent was unreachable for more than ${timeout} ms (${why})`);
        return;
      }
      const wait = this.backoff.next();
      this.log.warn({ why, waitMs: wait }, `Executor stream broke (${why}); subscribing again in ${wait} ms`);
      this.reconnectTimer = setTimeout(() => this.subscribe(), wait);
    };
    stream.on("error", (err: unknown) => broken((err as Error).message, err));
    stream.on("end", () => broken("the agent ended the stream"));
  }

  private fatal(message: string): void {
    this.log.error(message);
    this.callbacks.error?.(message);
    this.emit(create(ExecutorEventSchema, { kind: { case: "error", value: { message } } }));
    this.stop();
  }

  private dispatch(event: ExecutorEvent): void {
    const k = event.kind;
    switch (k.case) {
      case "subscribed":
        this.connected = true;
        this.backoff.reset();
        for (const r of this.reconnected.splice(0)) r();
        this.callbacks.subscribed?.(k.value);
        break;
      case "launch":
        if (k.value.task?.taskId) this.unreported.set(k.value.task.taskId.value, k.value.task);
        this.callbacks.launch?.(k.value.task!);
        break;
      case "launchGroup":
        for (const t of k.value.taskGroup?.tasks ?? []) if (t.taskId) this.unreported.set(t.taskId.value, t);
        this.callbacks.launchGroup?.(k.value.taskGroup!);
        break;
      case "kill":
        this.callbacks.kill?.(k.value.taskId?.value ?? "", k.value.killPolicy);
        break;
      case "acknowledged":
        this.unacknowledged.delete(Buffer.from(k.value.uuid).toString("hex"));
        this.callbacks.acknowledged?.(k.value.taskId?.value ?? "", k.value.uuid);
        break;
      case "message":
        this.callbacks.message?.(k.value.data);
        break;
      case "shutdown":
        this.callbacks.shutdown?.(k.value.gracePeriodSeconds);
        break;
      case "error":
        this.fatal(k.value.message);
        return;
      case "heartbeat":
      case undefined:
        return;
    }
    this.emit(event);
  }

  private emit(event: ExecutorEvent): void {
    const w = this.waiters.shift();
    if (w) w({ value: event, done: false });
    else this.queue.push(event);
  }
}
