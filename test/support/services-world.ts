/**
 * The services leader on the manual clock for tests: the masters' FrameworkLogs state
 * machine in memory (LocalLogs), a driver that records launches and kills, offers from
 * made-up agents, and the HTTP API on fastify answered through inject (no sockets).
 */
import { create } from "@bufbuild/protobuf";
import Fastify, { type FastifyInstance } from "fastify";
import type { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import { EventStream } from "../../src/frameworks/common/event-stream.js";
import { FencedStateStore } from "../../src/frameworks/common/state-store.js";
import { installServicesApi } from "../../src/frameworks/services/services-api.js";
import { ServicesScheduler, type SchedulerOptions } from "../../src/frameworks/services/services-scheduler.js";
import { servicesMachine, type ServicesOp, type ServicesState } from "../../src/frameworks/services/services-state.js";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { OfferSchema, type Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { TaskState, TaskStatusSchema, type TaskStatus_Reason, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { parseResources } from "../../src/resources/parse.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { silentLogger } from "../../src/runtime/log.js";
import { LocalLogs } from "./local-log-store.js";

export class RecordingDriver {
  launched: TaskInfo[] = [];
  killed: string[] = [];
  declined = 0;
  reconciled: string[] = [];
  /** Calls to refuse next, by method ("launch", "reconcile", "revive", "suppress"): how many (UNAVAILABLE, as a driver not subscribed). */
  readonly refusing = new Map<string, number>();
  async launch(_ids: unknown[], tasks: readonly TaskInfo[]): Promise<void> {
    this.refused("launch");
    this.launched.push(...tasks);
  }
  async kill(taskId: string): Promise<void> {
    this.killed.push(taskId);
  }
  async decline(): Promise<void> {
    this.declined++;
  }
  async reconcile(tasks: { taskId: string }[]): Promise<void> {
    this.refused("reconcile");
    this.reconciled.push(...tasks.map((t) => t.taskId));
  }
  inverseAccepted: string[] = [];
  async acceptInverseOffers(ids: { value: string }[]): Promise<void> {
    this.inverseAccepted.push(...ids.map((i) => i.value));
  }
  /** SUPPRESS and REVIVE calls in order ("revive", "suppress"), refused ones included. */
  offerCalls: string[] = [];
  async revive(): Promise<void> {
    this.offerCalls.push("revive");
    this.refused("revive");
  }
  async suppress(): Promise<void> {
    this.offerCalls.push("suppress");
    this.refused("suppress");
  }
  private refused(method: string): void {
    const n = this.refusing.get(method) ?? 0;
    if (n === 0) return;
    this.refusing.set(method, n - 1);
    throw new DcosError(Code.UNAVAILABLE, `Cannot call ${method}: the scheduler driver is CONNECTING, not SUBSCRIBED`);
  }
}

let offerSeq = 0;
/** An offer of agent `agent-<host>`; `unavailability`: it has maintenance scheduled (seconds). */
export function offer(host: string, cpus = 8, unavailability?: { startSeconds: number; durationSeconds: number }): Offer {
  return create(OfferSchema, {
    id: { value: `offer-${++offerSeq}` },
    agentId: { value: `agent-${host}` },
    hostname: host,
    resources: [...parseResources(`cpus:${cpus};mem:8192;ports:[31000-31100]`)],
    attributes: [{ name: "rack", type: Value_Type.TEXT, text: { value: `rack-${host}` } }],
    ...(unavailability ? { unavailability } : {}),
  });
}

export class World {
  readonly clock = new ManualClock();
  readonly logs = new LocalLogs();
  readonly events: { type: string; data: Record<string, unknown> }[] = [];
  driver = new RecordingDriver();
  s!: ServicesScheduler;
  store!: FencedStateStore<ServicesState, ServicesOp>;
  private http: FastifyInstance | undefined;

  /** `options`: scheduler options besides the clock, publish and role. */
  constructor(private readonly options: Partial<SchedulerOptions> = {}) {}

  async lead(writer: string): Promise<void> {
    this.s?.stop("replaced");
    this.driver = new RecordingDriver();
    this.store = await FencedStateStore.open({ store: this.logs.view(), log: "services-state", writer, machine: servicesMachine });
    this.s = new ServicesScheduler(
      { store: this.store, driver: this.driver as unknown as SchedulerDriver, term: 1, logger: silentLogger() },
      { ...this.options, clock: this.clock, publish: (type, data) => this.events.push({ type, data }), role: "*" },
    );
    this.s.ready();
    await this.clock.settle();
  }

  async offers(...hosts: string[]): Promise<void> {
    this.s.callbacks.offers!(hosts.map((h) => offer(h)));
    await this.clock.settle();
  }

  async status(taskId: string, state: TaskState, extra: { healthy?: boolean; reason?: TaskStatus_Reason; message?: string } = {}): Promise<void> {
    this.s.callbacks.update!(create(TaskStatusSchema, { taskId: { value: taskId }, state, ...extra }));
    await this.clock.settle();
  }

  /** Every launched-but-not-yet-running task becomes RUNNING (and healthy). */
  async runAll(healthy = true): Promise<void> {
    for (const i of [...this.s.state.instances.values()]) {
      if (i.state === "provisioned" || i.state === "staging") await this.status(i.id, TaskState.RUNNING, { healthy });
    }
  }

  async killAcked(): Promise<void> {
    for (const i of [...this.s.state.instances.values()]) if (i.goal === "stopped") await this.status(i.id, TaskState.KILLED);
  }

  live(appId: string) {
    return [...this.s.state.instances.values()].filter((i) => i.appId === appId);
  }

  types(): string[] {
    return this.events.map((e) => e.type);
  }

  /** One call to the HTTP API of the current leader session (fastify inject: no socket). */
  async api(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", url: string, body?: unknown): Promise<{ status: number; body: any }> {
    if (!this.http) {
      const http = Fastify({ logger: false });
      installServicesApi(http, { scheduler: () => this.s, events: new EventStream({ clock: this.clock }), role: "*" });
      await http.ready();
      this.http = http;
    }
    const r = await this.http.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });
    await this.clock.settle();
    return { status: r.statusCode, body: r.body === "" ? undefined : JSON.parse(r.body) };
  }

  async close(): Promise<void> {
    this.s?.stop("test over");
    await this.http?.close();
  }
}

/** A web app with one MESOS_HTTP health check (3 instances unless `fields` says otherwise). */
export const web = (fields: Record<string, unknown> = {}) => ({ id: "/web", cmd: "serve $PORT0", cpus: 0.5, mem: 64, instances: 3, healthChecks: [{ protocol: "MESOS_HTTP" }], ...fields });
