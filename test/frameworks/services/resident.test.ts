/**
 * Resident apps (persistent volumes) on the manual clock: the services leader against the
 * real master (operations, allocator, offers) with scripted agents, through a driver that
 * calls the master's facade. Reserve + create + launch, relaunch in place on the same
 * agent and volume, destroy + unreserve on removal and scale-down, and leader failovers
 * in the middle of each step without leaked or duplicated reservations.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import type { OperationInit, SchedulerDriver } from "../../../src/actors/scheduler-driver/driver.js";
import type { SchedulerCallbacks } from "../../../src/actors/scheduler-driver/options.js";
import type { EventSink } from "../../../src/actors/master/framework-record.js";
import { FencedStateStore } from "../../../src/frameworks/common/state-store.js";
import { InvalidApp } from "../../../src/frameworks/services/app-definition.js";
import { RESERVATION_LABEL } from "../../../src/frameworks/services/residency.js";
import { ServicesScheduler } from "../../../src/frameworks/services/services-scheduler.js";
import { servicesMachine, type ServicesOp, type ServicesState } from "../../../src/frameworks/services/services-state.js";
import { FrameworkInfoSchema } from "../../../src/gen/dcos/v1/cluster_pb.js";
import { CheckpointResourcesSchema, RunTaskSchema } from "../../../src/gen/dcos/v1/internal_pb.js";
import type { Resource } from "../../../src/gen/dcos/v1/resources_pb.js";
import {
  AcceptRequestSchema,
  AcknowledgeRequestSchema,
  DeclineRequestSchema,
  KillRequestSchema,
  ReconcileRequestSchema,
  ReviveRequestSchema,
  SubscribeRequestSchema,
  SuppressRequestSchema,
  type Event,
} from "../../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, type TaskInfo } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { silentLogger } from "../../../src/runtime/log.js";
import { LocalLogs } from "../../support/local-log-store.js";
import { Cluster } from "../../master/harness.js";

type Id = string | { value: string };
const idOf = (x: Id) => (typeof x === "string" ? x : x.value);

/** The part of SchedulerDriver the services leader uses, on the master's facade (no gRPC). */
class FacadeDriver {
  frameworkId: string | undefined;
  private streamId = "";
  /** Accepts swallowed (never reach the master): a leader that dies right after writing. */
  dropAccepts = false;
  readonly accepts: OperationInit[][] = [];
  private callbacks: SchedulerCallbacks = {};
  stopped = false;

  constructor(private readonly c: Cluster) {}

  async subscribe(callbacks: SchedulerCallbacks, frameworkId?: string): Promise<void> {
    this.callbacks = callbacks;
    const sink: EventSink = { send: (e) => this.deliver(e), close: () => undefined };
    const info = create(FrameworkInfoSchema, {
      name: "marathon",
      user: "nobody",
      roles: ["services"],
      principal: "marathon",
      failoverTimeout: 3600,
      id: frameworkId ? { value: frameworkId } : undefined,
    });
    const s = await this.c.facade.subscribe(create(SubscribeRequestSchema, { frameworkInfo: info }), sink);
    this.frameworkId = s.frameworkId;
    this.streamId = s.streamId;
  }

  private deliver(e: Event): void {
    if (this.stopped) return;
    if (e.kind.case === "offers") this.callbacks.offers?.(e.kind.value.offers);
    if (e.kind.case === "update") {
      const status = e.kind.value.status!;
      this.callbacks.update?.(status);
      if (status.uuid.length > 0) {
        void this.c.facade
          .acknowledge(create(AcknowledgeRequestSchema, { frameworkId: { value: this.frameworkId! }, streamId: this.streamId, agentId: status.agentId, taskId: status.taskId, uuid: status.uuid }))
          .catch(() => undefined);
      }
    }
  }

  private get ids() {
    return { frameworkId: { value: this.frameworkId! }, streamId: this.streamId };
  }

  async accept(offerIds: readonly Id[], operations: readonly OperationInit[], filters?: { refuseSeconds?: number }): Promise<void> {
    this.accepts.push([...operations]);
    if (this.dropAccepts || this.stopped) return;
    await this.c.facade.accept(create(AcceptRequestSchema, { ...this.ids, offerIds: offerIds.map((o) => ({ value: idOf(o) })), operations: [...operations], filters }));
  }

  launch(offerIds: readonly Id[], tasks: readonly TaskInfo[], filters?: { refuseSeconds?: number }): Promise<void> {
    return this.accept(offerIds, [{ kind: { case: "launch", value: { taskInfos: [...tasks] } } }], filters);
  }

  async decline(offerIds: readonly Id[], filters?: { refuseSeconds?: number }): Promise<void> {
    if (this.stopped) return;
    await this.c.facade.decline(create(DeclineRequestSchema, { ...this.ids, offerIds: offerIds.map((o) => ({ value: idOf(o) })), filters }));
  }

  async kill(taskId: Id, agentId?: Id): Promise<void> {
    if (this.stopped) return;
    await this.c.facade.kill(create(KillRequestSchema, { ...this.ids, taskId: { value: idOf(taskId) }, agentId: agentId ? { value: idOf(agentId) } : undefined }));
  }

  async reconcile(tasks: { taskId: string; agentId?: string }[]): Promise<void> {
    await this.c.facade.reconcile(create(ReconcileRequestSchema, { ...this.ids, tasks: tasks.map((t) => ({ taskId: { value: t.taskId }, agentId: t.agentId ? { value: t.agentId } : undefined })) }));
  }

  async revive(): Promise<void> {
    await this.c.facade.revive(create(ReviveRequestSchema, this.ids));
  }

  async suppress(): Promise<void> {
    await this.c.facade.suppress(create(SuppressRequestSchema, this.ids));
  }
}

const AGENT = "cpus:4;mem:4096;disk:1000;ports:[31000-31010]";

/** The leader(s), the log they share, the master and two scripted agents. */
class World {
  readonly logs = new LocalLogs();
  driver!: FacadeDriver;
  s!: ServicesScheduler;
  store!: FencedStateStore<ServicesState, ServicesOp>;

  private constructor(readonly c: Cluster) {}

  static async start(options: { agentPingTimeoutMs?: number; maxAgentPingTimeouts?: number } = {}): Promise<World> {
    return new World(await Cluster.start({ agents: 2, agentResources: AGENT, ...options }));
  }

  /** A services leader takes over (fencing out the previous one) and subscribes as the same framework. */
  async lead(writer: string): Promise<void> {
    const frameworkId = this.driver?.frameworkId;
    if (this.s) {
      this.s.stop("replaced");
      this.driver.stopped = true;
    }
    this.driver = new FacadeDriver(this.c);
    this.store = await FencedStateStore.open({ store: this.logs.view(), log: "services-state", writer, machine: servicesMachine });
    this.s = new ServicesScheduler(
      { store: this.store, driver: this.driver as unknown as SchedulerDriver, term: 1, logger: silentLogger() },
      { clock: this.c.clock, publish: () => undefined, role: "services", principal: "marathon", reservationConfirmMs: 10_000 },
    );
    await this.driver.subscribe(this.s.callbacks, frameworkId);
    this.s.ready();
    await this.c.clock.settle();
  }

  /** Lets the master allocate and the leader plan for `ms`. */
  async run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 500) await this.c.clock.advance(500);
  }

  agentOf(agentId: string) {
    return this.c.agents.find((a) => a.agentId === agentId)!;
  }

  /** The agent's resources as the master has them, reserved ones only. */
  async reserved(agentId: string): Promise<Resource[]> {
    return this.c.facade.inspect((core) => core.agents.get(agentId)!.info.resources.filter((r) => r.reservations.length > 0));
  }

  /** Reservation ids (labels) on every agent, from the master. */
  async masterReservations(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const a of this.c.agents) {
      for (const r of await this.reserved(a.agentId)) {
        const id = r.reservations.at(-1)!.labels?.labels.find((l) => l.key === RESERVATION_LABEL)?.value;
        if (id) out.set(id, a.agentId);
      }
    }
    return out;
  }

  async volumes(agentId: string): Promise<string[]> {
    return (await this.reserved(agentId)).flatMap((r) => (r.disk?.persistence ? [r.disk.persistence.id] : []));
  }

  runTasks(): { agentId: string; task: TaskInfo }[] {
    return this.c.agents.flatMap((a) => a.messages(RunTaskSchema).map((m) => ({ agentId: a.agentId, task: m.task! })));
  }

  live() {
    return [...this.s.state.instances.values()];
  }

  async status(taskId: string, state: TaskState): Promise<void> {
    const i = this.s.state.instances.get(taskId);
    const agentId = i?.agentId ?? this.runTasks().find((t) => t.task.taskId?.value === taskId)!.agentId;
    this.agentOf(agentId).update(this.driver.frameworkId!, taskId, state);
    await this.c.clock.settle();
  }
}

const db = (fields: Record<string, unknown> = {}) => ({
  id: "/db",
  cmd: "echo $(( $(cat data/n 2>/dev/null || echo 0) + 1 )) > data/n; sleep 1000",
  cpus: 1,
  mem: 256,
  instances: 1,
  backoffSeconds: 1,
  container: { type: "MESOS", volumes: [{ containerPath: "data", mode: "RW", persistent: { size: 100 } }] },
  ...fields,
});

const volumeIdsOf = (t: TaskInfo) => t.resources.flatMap((r) => (r.disk?.persistence ? [r.disk.persistence.id] : []));

let world: World | undefined;

/** Leader "a" with /db launched: its reservation and instance. */
async function withOneInstance() {
  const w = (world = await World.start());
  await w.lead("a");
  await w.s.putApp(db(), { force: false, create: true });
  await w.run(2000);
  const [r] = [...w.s.state.reservations.values()];
  const [i] = w.live();
  return { w, r: r!, i: i! };
}
afterEach(async () => {
  world?.s?.stop("test over");
  await world?.c.stop();
  world = undefined;
});

describe("services: resident apps with persistent volumes (real master, manual clock)", () => {
  it("reserve → create → launch; the task dies → relaunched in place with the same volume; destroy → unreserved", async () => {
    const w = (world = await World.start());
    await w.lead("a");
    const { app } = await w.s.putApp(db(), { force: false, create: true });
    assert.deepEqual(app["upgradeStrategy"], { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 }, "Marathon's defaults for resident apps");
    assert.deepEqual(app["residency"], { relaunchEscalationTimeoutSeconds: 3600, taskLostBehavior: "WAIT_FOREVER" });
    assert.equal(app["unreachableStrategy"], "disabled");
    await w.run(2000);

    // One ACCEPT: RESERVE, CREATE, LAUNCH, in that order.
    const first = w.driver.accepts.find((ops) => ops.some((o) => o.kind?.case === "reserve"))!;
    assert.deepEqual(first.map((o) => o.kind?.case), ["reserve", "create", "launch"]);
    const [r] = [...w.s.state.reservations.values()];
    assert.ok(r, "the reservation is recorded");
    const [i] = w.live();
    assert.equal(i!.reservationId, r.id);
    assert.deepEqual(i!.volumeIds, [r.volumes[0]!.id]);
    assert.deepEqual(await w.volumes(r.agentId), [r.volumes[0]!.id], "the master has the volume on the agent");
    assert.deepEqual([...(await w.masterReservations()).entries()], [[r.id, r.agentId]]);
    const run1 = w.runTasks().at(-1)!;
    assert.equal(run1.agentId, r.agentId);
    assert.deepEqual(volumeIdsOf(run1.task), [r.volumes[0]!.id], "the task is launched with its volume");
    const checkpoints = w.agentOf(r.agentId).messages(CheckpointResourcesSchema).length;

    await w.status(i.id, TaskState.RUNNING);
    assert.equal(w.s.state.reservations.get(r.id)!.state, "reserved", "a status from the agent confirms the reservation");
    // The task dies: relaunched in place, same agent, same reservation and volume; nothing reserved anew.
    await w.status(i.id, TaskState.FAILED);
    await w.run(3000);
    const [j] = w.live();
    assert.ok(j && j.id !== i.id, "a new task");
    assert.equal(j.id, `${r.id}._app.2`);
    assert.equal(j.agentId, r.agentId);
    const run2 = w.runTasks().at(-1)!;
    assert.equal(run2.task.taskId?.value, j.id);
    assert.equal(run2.agentId, r.agentId, "relaunched on the same agent");
    assert.deepEqual(volumeIdsOf(run2.task), [r.volumes[0]!.id], "with the same volume");
    assert.equal(w.driver.accepts.filter((ops) => ops.some((o) => o.kind?.case === "reserve")).length, 1, "no second RESERVE");
    assert.equal(w.agentOf(r.agentId).messages(CheckpointResourcesSchema).length, checkpoints, "the agent's reservations did not change");
    await w.status(j.id, TaskState.RUNNING);

    // Destroy the app: the task is killed, then the volume destroyed and the resources unreserved.
    await w.s.removeApp("/db", false);
    await w.run(1000);
    assert.equal(w.s.state.reservations.get(r.id)?.state, "releasing");
    await w.status(j.id, TaskState.KILLED);
    await w.run(4000);
    const release = w.driver.accepts.find((ops) => ops.some((o) => o.kind?.case === "destroy"))!;
    assert.deepEqual(release.map((o) => o.kind?.case), ["destroy", "unreserve"]);
    assert.deepEqual(await w.reserved(r.agentId), [], "nothing reserved on the agent");
    assert.equal(w.s.state.reservations.size, 0, "the reservation is forgotten");
    assert.equal(w.s.state.apps.size, 0);
  });

  it("scale-down destroys the reservations of the instances it kills; a restart relaunches in place with the new version", async () => {
    const w = (world = await World.start());
    await w.lead("a");
    await w.s.putApp(db({ instances: 2, constraints: [["hostname", "UNIQUE"]] }), { force: false, create: true });
    await w.run(2000);
    for (const i of w.live()) await w.status(i.id, TaskState.RUNNING);
    const before = new Map([...w.s.state.reservations.values()].map((r) => [r.id, r.agentId]));
    assert.equal(before.size, 2);
    assert.equal(new Set(before.values()).size, 2, "one per agent");
    // Restart: each instance is killed and relaunched on its own reservation with the new version.
    await w.s.putApp({ ...w.s.state.apps.get("/db")!, cmd: "sleep 2000" }, { force: false, create: false });
    for (let round = 0; round < 20 && w.s.state.deployments.size > 0; round++) {
      await w.run(1000);
      for (const i of w.live()) {
        if (i.goal === "stopped") await w.status(i.id, TaskState.KILLED);
        else if (i.state === "provisioned") await w.status(i.id, TaskState.RUNNING);
      }
    }
    assert.equal(w.s.state.deployments.size, 0, "the restart finished");
    assert.deepEqual(new Map([...w.s.state.reservations.values()].map((r) => [r.id, r.agentId])), before, "same reservations");
    for (const i of w.live()) assert.equal(before.get(i.reservationId!), i.agentId, "each instance on its own reservation's agent");
    const relaunched = w.runTasks().filter((t) => t.task.taskId?.value.endsWith("._app.2"));
    assert.equal(relaunched.length, 2);
    assert.ok(relaunched.every((t) => t.task.command?.value === "sleep 2000"), "relaunched with the new version");
    // Scale down to 1: the killed instance's reservation is destroyed; the other stays.
    await w.s.putApp({ ...w.s.state.apps.get("/db")!, instances: 1 }, { force: false, create: false });
    await w.run(1000);
    const killed = w.live().find((i) => i.goal === "stopped")!;
    await w.status(killed.id, TaskState.KILLED);
    await w.run(4000);
    assert.deepEqual([...w.s.state.reservations.keys()], w.live().map((i) => i.reservationId));
    assert.deepEqual([...(await w.masterReservations()).keys()], [...w.s.state.reservations.keys()], "the master holds exactly the remaining reservation");
  });

  it("leader failover after the reservation is written but before its ACCEPT reached the master: reserved once, no leak", async () => {
    const w = (world = await World.start());
    await w.lead("a");
    w.driver.dropAccepts = true; // leader a dies right after writing
    await w.s.putApp(db(), { force: false, create: true });
    await w.run(2000);
    const [lost] = [...w.s.state.reservations.values()];
    assert.equal(lost?.state, "reserving");
    assert.equal((await w.masterReservations()).size, 0, "nothing reached the master");
    await w.lead("b");
    assert.equal(w.s.state.reservations.get(lost!.id)?.state, "reserving", "b replays the reservation");
    // Reconciliation: the master does not know the task; the agent keeps offering without the reservation.
    await w.run(12_000);
    assert.ok(!w.s.state.reservations.has(lost!.id), "taken for never made");
    await w.run(2000);
    const master = await w.masterReservations();
    assert.equal(master.size, 1, "exactly one reservation in the master");
    assert.deepEqual([...master.keys()], [...w.s.state.reservations.keys()]);
    assert.equal(w.live().length, 1);
    assert.equal(w.live()[0]!.reservationId, [...master.keys()][0]);
  });

  it("leader failover after the ACCEPT: the new leader confirms the reservation, relaunches in place, never reserves again", async () => {
    const { w, r, i } = await withOneInstance();
    // Leader a dies before hearing any status; the task runs.
    w.driver.stopped = true;
    w.agentOf(r.agentId).update(w.driver.frameworkId!, i.id, TaskState.RUNNING);
    await w.c.clock.settle();
    await w.lead("b");
    await w.run(1000);
    assert.equal(w.s.state.reservations.get(r.id)?.state, "reserved", "confirmed by reconciliation");
    await w.status(i.id, TaskState.FAILED);
    await w.run(3000);
    const [j] = w.live();
    assert.equal(j?.reservationId, r.id);
    assert.equal(w.runTasks().at(-1)!.agentId, r.agentId, "relaunched in place");
    assert.equal(w.driver.accepts.filter((ops) => ops.some((o) => o.kind?.case === "reserve")).length, 0, "b never reserved");
    assert.equal((await w.masterReservations()).size, 1);
  });

  it("leader failover in the middle of a destroy: the new leader destroys and unreserves, nothing leaks", async () => {
    const { w, r, i } = await withOneInstance();
    await w.status(i.id, TaskState.RUNNING);
    await w.s.removeApp("/db", false);
    await w.run(1000);
    w.driver.dropAccepts = true; // a decides to release, its DESTROY never arrives
    await w.status(i.id, TaskState.KILLED);
    await w.run(3000);
    assert.ok(w.driver.accepts.some((ops) => ops.some((o) => o.kind?.case === "destroy")), "a tried");
    assert.equal(w.s.state.reservations.get(r.id)?.state, "releasing");
    assert.equal((await w.masterReservations()).size, 1, "still in the master");
    await w.lead("b");
    await w.run(4000);
    assert.deepEqual(await w.reserved(r.agentId), [], "b destroyed and unreserved it");
    assert.equal(w.s.state.reservations.size, 0);
  });

  it("an agent gone: WAIT_FOREVER waits for it; RELAUNCH_AFTER_TIMEOUT reserves and launches elsewhere after relaunchEscalationTimeoutSeconds", async () => {
    const w = (world = await World.start({ agentPingTimeoutMs: 1000, maxAgentPingTimeouts: 2 }));
    await w.lead("a");
    await w.s.putApp(db({ id: "/move", residency: { relaunchEscalationTimeoutSeconds: 10, taskLostBehavior: "RELAUNCH_AFTER_TIMEOUT" } }), { force: false, create: true });
    await w.run(2000);
    const moving = w.live()[0]!;
    const gone = w.agentOf(moving.agentId);
    await w.s.putApp(db({ id: "/wait", constraints: [["hostname", "CLUSTER", gone.hostname]] }), { force: false, create: true });
    await w.run(2000);
    for (const i of w.live()) await w.status(i.id, TaskState.RUNNING);
    const before = new Map([...w.s.state.reservations.values()].map((r) => [r.appId, r]));
    assert.equal(before.get("/wait")!.agentId, gone.agentId, "both on the same agent");
    assert.equal(before.get("/move")!.state, "reserved");
    gone.answerPings = false; // the agent is lost: its tasks become LOST
    await w.run(5000);
    assert.equal(w.live().length, 0, "both instances lost");
    await w.run(6000);
    assert.ok(!w.live().some((i) => i.appId === "/move"), "not before the escalation timeout");
    await w.run(6000);
    const moved = w.live().find((i) => i.appId === "/move");
    assert.ok(moved, "relaunched elsewhere after relaunchEscalationTimeoutSeconds");
    assert.notEqual(moved.agentId, gone.agentId);
    assert.notEqual(moved.reservationId, before.get("/move")!.id, "on a new reservation");
    assert.equal(w.s.state.reservations.get(before.get("/move")!.id)?.state, "releasing", "the old one is destroyed when its agent comes back");
    assert.ok(!w.live().some((i) => i.appId === "/wait"), "WAIT_FOREVER: never launched elsewhere");
    assert.equal(w.s.queue().find((q) => q.appId === "/wait")?.count, 1, "/v2/queue shows it waiting");
    assert.match(w.s.offerStats.get("/wait")?.lastDetail ?? "", new RegExp(`waiting for agent ${gone.hostname} .* to offer reservation ${before.get("/wait")!.id}`));
    assert.equal(w.s.state.reservations.get(before.get("/wait")!.id)?.state, "reserved", "and keeps its reservation");
    assert.equal([...w.s.state.reservations.values()].filter((r) => r.appId === "/wait").length, 1);
  });

  it("refuses resident apps Marathon refuses (422): over-capacity, non-RW or non-root volumes, paths, role '*', resource changes", async () => {
    const w = (world = await World.start());
    await w.lead("a");
    const refused = async (raw: unknown, path: RegExp, create = true) =>
      assert.rejects(w.s.putApp(raw, { force: true, create }), (e: unknown) => {
        assert.ok(e instanceof InvalidApp, String(e));
        assert.ok(e.details.some((d) => path.test(d.path)), JSON.stringify(e.details));
        return true;
      });
    await refused(db({ upgradeStrategy: { maximumOverCapacity: 0.5 } }), /upgradeStrategy\/maximumOverCapacity/);
    await refused(db({ container: { type: "MESOS", volumes: [{ containerPath: "data", mode: "RO", persistent: { size: 10 } }] } }), /volumes\(0\)\/mode/);
    await refused(db({ container: { type: "MESOS", volumes: [{ containerPath: "data", persistent: { size: 10, type: "mount" } }] } }), /persistent\/type/);
    await refused(db({ container: { type: "MESOS", volumes: [{ containerPath: "/var/data", persistent: { size: 10 } }] } }), /containerPath/);
    await refused(db({ container: { type: "MESOS", volumes: [{ containerPath: "../x", persistent: { size: 10 } }] } }), /containerPath/);
    await refused(db({ container: { type: "MESOS", volumes: [{ containerPath: "data", persistent: { size: 0 } }] } }), /persistent\/size/);
    await refused({ id: "/x", cmd: "true", residency: { taskLostBehavior: "WAIT_FOREVER" } }, /residency/);
    await w.s.putApp(db(), { force: false, create: true });
    await refused({ ...w.s.state.apps.get("/db")!, cpus: 2 }, /cpus/, false);
    await refused({ ...w.s.state.apps.get("/db")!, residency: undefined, container: { type: "MESOS", volumes: [] } }, /container\/volumes/, false);
    // A framework subscribed in role "*" cannot reserve.
    const star = new ServicesScheduler(
      { store: w.store, driver: w.driver as unknown as SchedulerDriver, term: 1, logger: silentLogger() },
      { clock: w.c.clock, publish: () => undefined, role: "*" },
    );
    await assert.rejects(star.putApp(db({ id: "/db2" }), { force: false, create: true }), /role other than '\*'/);
    star.stop("done");
  });
});
