/**
 * The services leader on the manual clock with the masters' FrameworkLogs state machine
 * in memory and a recording driver: deployments, self-healing with backoff, deadlines
 * and rollback, kill-before-forget, and a takeover that replays without duplicating.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import type { SchedulerDriver } from "../../../src/actors/scheduler-driver/driver.js";
import { FencedStateStore } from "../../../src/frameworks/common/state-store.js";
import { ServicesScheduler, configVersion } from "../../../src/frameworks/services/services-scheduler.js";
import { servicesMachine, type ServicesOp, type ServicesState } from "../../../src/frameworks/services/services-state.js";
import { Value_Type } from "../../../src/gen/dcos/v1/common_pb.js";
import { OfferSchema, type Offer } from "../../../src/gen/dcos/v1/offers_pb.js";
import { TaskState, TaskStatusSchema, TaskStatus_Reason, type TaskInfo } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { parseResources } from "../../../src/resources/parse.js";
import { ManualClock } from "../../../src/runtime/clock.js";
import { silentLogger } from "../../../src/runtime/log.js";
import { LocalLogs } from "../../support/local-log-store.js";

class RecordingDriver {
  launched: TaskInfo[] = [];
  killed: string[] = [];
  declined = 0;
  reconciled: string[] = [];
  async launch(_ids: unknown[], tasks: readonly TaskInfo[]): Promise<void> {
    this.launched.push(...tasks);
  }
  async kill(taskId: string): Promise<void> {
    this.killed.push(taskId);
  }
  async decline(): Promise<void> {
    this.declined++;
  }
  async reconcile(tasks: { taskId: string }[]): Promise<void> {
    this.reconciled.push(...tasks.map((t) => t.taskId));
  }
  async revive(): Promise<void> {}
  async suppress(): Promise<void> {}
}

let offerSeq = 0;
function offer(host: string, cpus = 8): Offer {
  return create(OfferSchema, {
    id: { value: `offer-${++offerSeq}` },
    agentId: { value: `agent-${host}` },
    hostname: host,
    resources: [...parseResources(`cpus:${cpus};mem:8192;ports:[31000-31100]`)],
    attributes: [{ name: "rack", type: Value_Type.TEXT, text: { value: `rack-${host}` } }],
  });
}

class World {
  readonly clock = new ManualClock();
  readonly logs = new LocalLogs();
  readonly events: { type: string; data: Record<string, unknown> }[] = [];
  driver = new RecordingDriver();
  s!: ServicesScheduler;
  store!: FencedStateStore<ServicesState, ServicesOp>;

  async lead(writer: string): Promise<void> {
    this.s?.stop("replaced");
    this.driver = new RecordingDriver();
    this.store = await FencedStateStore.open({ store: this.logs.view(), log: "services-state", writer, machine: servicesMachine });
    this.s = new ServicesScheduler(
      { store: this.store, driver: this.driver as unknown as SchedulerDriver, term: 1, logger: silentLogger() },
      { clock: this.clock, publish: (type, data) => this.events.push({ type, data }), role: "*" },
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
}

const web = (fields: Record<string, unknown> = {}) => ({ id: "/web", cmd: "serve $PORT0", cpus: 0.5, mem: 64, instances: 3, healthChecks: [{ protocol: "MESOS_HTTP" }], ...fields });

describe("services scheduler (manual clock, recording driver)", () => {
  it("starts an app: writes each instance before launching it, deployment succeeds once all are healthy", async () => {
    const w = new World();
    await w.lead("a");
    await w.s.putApp(web(), { force: false, create: true });
    await w.clock.advance(1000);
    await w.offers("h1", "h2");
    assert.equal(w.driver.launched.length, 3);
    // Written first: the replicated log already holds every launched instance.
    const replay = await FencedStateStore.open({ store: w.logs.view(), log: "services-state", writer: "peek", machine: servicesMachine });
    for (const t of w.driver.launched) assert.ok(replay.state.instances.has(t.taskId!.value), `instance ${t.taskId!.value} written before launch`);
    const env = Object.fromEntries(w.driver.launched[0]!.command!.environment!.variables.map((v) => [v.name, v.value]));
    assert.match(env["PORT0"]!, /^310\d\d$/);
    assert.equal(env["MARATHON_APP_ID"], "/web");
    assert.equal(w.driver.launched[0]!.healthCheck?.http?.port, Number(env["PORT0"]));
  });

  it("deployment finishes only when all health checks pass; a dead instance is replaced after its backoff", async () => {
    const w = new World();
    await w.lead("a");
    const { deployment } = await w.s.putApp(web({ backoffSeconds: 10, backoffFactor: 2 }), { force: false, create: true });
    await w.clock.advance(1000);
    await w.offers("h1");
    await w.runAll(false);
    await w.clock.advance(1000);
    assert.ok(w.s.state.deployments.has(deployment.id), "running but unhealthy: not done");
    for (const i of w.live("/web")) await w.status(i.id, TaskState.RUNNING, { healthy: true });
    await w.clock.advance(1000);
    assert.ok(!w.s.state.deployments.has(deployment.id));
    assert.ok(w.types().includes("deployment_success"));
    // An instance dies: replaced only after backoffSeconds.
    const victim = w.live("/web")[0]!;
    await w.status(victim.id, TaskState.FAILED, { message: "exit 1" });
    await w.clock.advance(1000);
    assert.equal(w.s.queue()[0]?.count, 1);
    assert.ok(w.s.delayOf("/web"), "delay visible in /v2/queue");
    const before = w.driver.launched.length;
    await w.offers("h2");
    assert.equal(w.driver.launched.length, before, "no launch during the backoff");
    await w.clock.advance(10_000);
    await w.offers("h2");
    assert.equal(w.driver.launched.length, before + 1, "replaced after the backoff");
    assert.equal(w.s.lastFailure("/web")?.state, "TASK_FAILED");
    // A second failure doubles the delay.
    const second = w.live("/web").find((i) => i.state === "provisioned")!;
    await w.status(second.id, TaskState.FAILED);
    const d = w.s.delayOf("/web")!;
    assert.equal(d.until - d.now, 20_000);
    assert.ok(w.s.resetDelay("/web"));
    assert.equal(w.s.delayOf("/web"), undefined);
  });

  it("rolling restart keeps minimumHealthCapacity healthy and never exceeds the over-capacity", async () => {
    const w = new World();
    await w.lead("a");
    await w.s.putApp(web({ instances: 4, upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.25 } }), { force: false, create: true });
    await w.clock.advance(1000);
    await w.offers("h1");
    await w.runAll();
    await w.clock.advance(1000);
    const { deployment } = await w.s.putApp({ ...w.s.state.apps.get("/web")! }, { force: false, create: false, restart: true });
    for (let round = 0; round < 20 && w.s.state.deployments.has(deployment.id); round++) {
      await w.clock.advance(1000);
      const alive = w.live("/web");
      assert.ok(alive.length <= 5, `round ${round}: ${alive.length} alive`);
      const healthy = alive.filter((i) => i.state === "running" && i.healthy && i.goal === "running").length;
      assert.ok(healthy >= 2, `round ${round}: ${healthy} healthy`);
      await w.offers("h1");
      await w.runAll();
      await w.killAcked();
    }
    assert.ok(!w.s.state.deployments.has(deployment.id), "the restart completed");
    const version = configVersion(w.s.state.apps.get("/web")!);
    assert.deepEqual(w.live("/web").map((i) => i.version), [version, version, version, version]);
  });

  it("a deployment past its deadline fails and rolls back to the previous version", async () => {
    const w = new World();
    await w.lead("a");
    await w.s.putApp(web({ instances: 1, deploymentTimeoutSeconds: 30, rollbackOnFailure: true }), { force: false, create: true });
    await w.clock.advance(1000);
    await w.offers("h1");
    await w.runAll();
    await w.clock.advance(1000);
    const good = w.s.state.apps.get("/web")!;
    const { deployment } = await w.s.putApp({ ...good, cmd: "broken" }, { force: false, create: false });
    await w.clock.advance(1000);
    await w.offers("h1");
    await w.runAll(false); // the new version never becomes healthy
    await w.clock.advance(31_000);
    assert.ok(!w.s.state.deployments.has(deployment.id));
    assert.ok(w.types().includes("deployment_failed"));
    const rollback = [...w.s.state.deployments.values()][0]!;
    assert.equal(rollback.rollbackOf, deployment.id);
    assert.equal(w.s.state.apps.get("/web")!["cmd"], "serve $PORT0");
    // 409 while a deployment runs, unless forced.
    await assert.rejects(w.s.putApp({ ...good, instances: 2 }, { force: false, create: false }), /App is locked by one or more deployments/);
  });

  it("a new leader replays the state, reconciles every instance, and launches nothing twice", async () => {
    const w = new World();
    await w.lead("a");
    await w.s.putApp(web(), { force: false, create: true });
    await w.clock.advance(1000);
    await w.offers("h1");
    const first = w.driver.launched.map((t) => t.taskId!.value).sort();
    await w.lead("b"); // the old session is fenced from here on
    assert.deepEqual([...w.driver.reconciled].sort(), first);
    await w.runAll();
    await w.clock.advance(1000);
    await w.offers("h2");
    assert.equal(w.driver.launched.length, 0, "nothing launched again");
    assert.equal(w.live("/web").length, 3);
    // A kill decided by the previous leader is sent again by the new one.
    const victim = w.live("/web")[0]!;
    await w.s.killInstances([victim.id], { scale: false, wipe: false });
    await w.lead("c");
    await w.clock.advance(1000);
    assert.ok(w.driver.killed.includes(victim.id), "the new leader re-sends a decided kill");
    w.driver.killed = [];
    // An unknown task (e.g. from before a lost write) is killed, not adopted.
    await w.status("web.instance-stray._app.1", TaskState.RUNNING);
    assert.deepEqual(w.driver.killed, ["web.instance-stray._app.1"]);
  });

  it("a stopped session (leadership lost) ignores late offers and updates without an unhandled rejection", async () => {
    const w = new World();
    await w.lead("a");
    w.s.stop("lease lost");
    w.s.callbacks.offers!([offer("h1")]);
    w.s.callbacks.update!(create(TaskStatusSchema, { taskId: { value: "t" }, state: TaskState.RUNNING }));
    await w.clock.advance(5_000);
    assert.equal(w.driver.launched.length, 0);
    await assert.rejects(w.s.putApp(web(), { force: false, create: true }), /no longer leads/);
  });

  it("removing an app kills its instances and forgets it once they are gone; unreachable instances are replaced", async () => {
    const w = new World();
    await w.lead("a");
    await w.s.putApp(web({ instances: 2, unreachableStrategy: { inactiveAfterSeconds: 5, expungeAfterSeconds: 10 } }), { force: false, create: true });
    await w.clock.advance(1000);
    await w.offers("h1");
    await w.runAll();
    const [u] = w.live("/web");
    await w.status(u!.id, TaskState.UNREACHABLE, { reason: TaskStatus_Reason.AGENT_DISCONNECTED });
    await w.clock.advance(6_000);
    await w.offers("h2");
    assert.equal(w.live("/web").filter((i) => i.state === "provisioned").length, 1, "replacement launched");
    await w.clock.advance(6_000);
    assert.ok(!w.s.state.instances.has(u!.id), "expunged");
    await w.status(u!.id, TaskState.RUNNING);
    assert.ok(w.driver.killed.includes(u!.id), "killed when it comes back");
    await w.s.removeApp("/web", false);
    await w.clock.advance(1000);
    await w.killAcked();
    for (const i of w.live("/web")) await w.status(i.id, TaskState.KILLED);
    await w.clock.advance(1000);
    assert.ok(!w.s.state.apps.has("/web"));
    assert.ok(w.types().includes("app_terminated_event"));
  });
});
