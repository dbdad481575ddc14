/**
 * The services leader on the manual clock with the masters' FrameworkLogs state machine
 * in memory and a recording driver: deployments, self-healing with backoff, deadlines
 * and rollback, kill-before-forget, and a takeover that replays without duplicating.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { FencedStateStore } from "../../../src/frameworks/common/state-store.js";
import { configVersion } from "../../../src/frameworks/services/services-scheduler.js";
import { servicesMachine } from "../../../src/frameworks/services/services-state.js";
import { TaskState, TaskStatusSchema, TaskStatus_Reason } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { Random } from "../../../src/runtime/random.js";
import { testSeed } from "../../support/seed.js";
import { offer, web, World } from "../../support/services-world.js";

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

  it("draws instance and deployment ids from its seeded source: the same seed launches the same task ids and names the same deployment", async () => {
    const seed = testSeed(21);
    const run = async (s: number) => {
      const w = new World({ random: new Random(s) });
      await w.lead("a");
      await w.s.putApp(web(), { force: false, create: true });
      await w.clock.advance(1000);
      await w.offers("h1", "h2");
      const deployments = (await w.api("GET", "/v2/deployments")).body as { id: string }[];
      const out = { tasks: w.driver.launched.map((t) => t.taskId!.value), deployments: deployments.map((d) => d.id) };
      await w.close();
      return out;
    };
    const first = await run(seed);
    assert.equal(first.tasks.length, 3);
    assert.equal(first.deployments.length, 1);
    assert.deepEqual(await run(seed), first, `seed ${seed} replays the ids`);
    assert.notDeepEqual((await run(seed + 1)).tasks, first.tasks, "another seed, other ids");
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

  it("a REVIVE or SUPPRESS the driver refused is asked again at the next plan, and only until one goes through", async () => {
    const w = new World();
    await w.lead("a");
    await w.clock.advance(1000);
    assert.deepEqual(w.driver.offerCalls, ["suppress"], "nothing to launch: suppressed");
    // The app comes while the driver resubscribes to a new leading master: its REVIVE is refused.
    w.driver.refusing.set("revive", 1);
    await w.s.putApp(web(), { force: false, create: true });
    await w.clock.advance(1000);
    assert.deepEqual(w.driver.offerCalls, ["suppress", "revive", "revive"], "refused, then asked again at the next plan");
    await w.clock.advance(3000);
    assert.equal(w.driver.offerCalls.length, 3, "once it went through, not again");
    // The same for a SUPPRESS (all launched, nothing left to launch): refused once, then sent again.
    w.driver.refusing.set("suppress", 1);
    await w.offers("h1", "h2");
    assert.equal(w.driver.launched.length, 3);
    assert.deepEqual(w.driver.offerCalls.slice(3), ["suppress"]);
    await w.clock.advance(1000);
    assert.deepEqual(w.driver.offerCalls.slice(3), ["suppress", "suppress"]);
    await w.clock.advance(3000);
    assert.equal(w.driver.offerCalls.length, 5);
    await w.close();
  });

  it("a launch the driver refused (it was resubscribing) is reconciled until the master answers, then replaced", async () => {
    const w = new World();
    await w.lead("a");
    await w.s.putApp(web({ instances: 1 }), { force: false, create: true });
    await w.clock.advance(1000);
    // An offer of the old master used while the driver resubscribes: ACCEPT and RECONCILE are refused.
    w.driver.refusing.set("launch", 1).set("reconcile", 1);
    await w.offers("h1");
    assert.equal(w.driver.launched.length, 0);
    const [lost] = w.live("/web");
    assert.equal(lost?.state, "provisioned", "written before the launch, and no status since");
    assert.equal(w.driver.refusing.get("reconcile"), 0, "the RECONCILE after the failed launch was refused");
    assert.deepEqual(w.driver.reconciled, [lost!.id], "asked again at the next plan (the one the offers asked for)");
    await w.clock.advance(5000);
    assert.deepEqual(w.driver.reconciled, [lost!.id], "not again before killRetryMs");
    await w.clock.advance(5000);
    assert.deepEqual(w.driver.reconciled, [lost!.id, lost!.id], "again after killRetryMs: the master may have lost the question in a failover");
    // The master's answer: it knows no such task. The instance is replaced.
    await w.status(lost!.id, TaskState.UNKNOWN);
    assert.equal(w.live("/web").length, 0);
    await w.clock.advance(2000);
    await w.offers("h1");
    assert.equal(w.driver.launched.length, 1);
    await w.clock.advance(20_000);
    assert.equal(w.driver.reconciled.length, 2, "nothing more to ask about");
    await w.close();
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
