/**
 * Drained agents and maintenance (issue 16's DRAIN_AGENT and inverse offers) as the
 * services scheduler sees them, on the manual clock: instances the master kills for a
 * drain (TASK_KILLING, then TASK_KILLED with REASON_AGENT_DRAINING) are replaced at once
 * and without backoff; an inverse offer moves instances off the agent replacements-first
 * without dropping below minimumHealthCapacity; agents with maintenance get no new instance.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { InverseOfferSchema } from "../../../src/gen/dcos/v1/offers_pb.js";
import { TaskState, TaskStatus_Reason } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { offer, web, World } from "../../support/services-world.js";

const alive = (w: World, app: string) => w.live(app).filter((i) => i.goal === "running");
const healthy = (w: World, app: string) => alive(w, app).filter((i) => i.state === "running" && i.healthy === true);

describe("services and drained agents (manual clock)", () => {
  it("a drain: killed instances are replaced during their grace period, without backoff, never on the drained agent", async () => {
    const w = new World();
    try {
      await w.lead("a");
      await w.s.putApp(web({ instances: 2, backoffSeconds: 60, taskKillGracePeriodSeconds: 30 }), { force: false, create: true });
      await w.clock.advance(1000);
      await w.offers("h1");
      await w.runAll();
      await w.clock.advance(1000);
      const drained = w.live("/web");
      assert.ok(drained.every((i) => i.agentId === "agent-h1"));
      // The operator drains agent-h1: the master kills its tasks; the executor says TASK_KILLING first.
      for (const i of drained) await w.status(i.id, TaskState.KILLING);
      await w.clock.advance(1000);
      await w.offers("h2");
      const replacements = w.live("/web").filter((i) => i.agentId === "agent-h2");
      assert.equal(replacements.length, 2, "replacements launched while the drained instances are still in their grace period");
      assert.equal(w.live("/web").length, 4);
      for (const i of drained) await w.status(i.id, TaskState.KILLED, { reason: TaskStatus_Reason.AGENT_DRAINING, message: "Agent agent-h1 is being drained" });
      assert.equal(w.s.delayOf("/web"), undefined, "a drain's kill is no failure: no backoff");
      assert.equal(w.s.lastFailure("/web"), undefined);
      assert.equal(w.s.draining().get("agent-h1")?.why, "drain");
      await w.runAll();
      await w.clock.advance(1000);
      assert.equal(w.s.state.deployments.size, 0);
      assert.deepEqual(
        w.live("/web").map((i) => i.agentId),
        ["agent-h2", "agent-h2"],
      );
    } finally {
      await w.close();
    }
  });

  it("maintenance ahead (inverse offer): replacements first, then the old ones go, never below minimumHealthCapacity; offers with unavailability get nothing", async () => {
    const w = new World();
    try {
      await w.lead("a");
      await w.s.putApp(web({ instances: 4, upgradeStrategy: { minimumHealthCapacity: 0.75, maximumOverCapacity: 0.25 } }), { force: false, create: true });
      await w.clock.advance(1000);
      await w.offers("h1");
      await w.runAll();
      await w.clock.advance(1000);
      const before = w.live("/web").map((i) => i.id);
      w.s.callbacks.inverseOffers!([create(InverseOfferSchema, { id: { value: "io-1" }, agentId: { value: "agent-h1" }, unavailability: { startSeconds: 3600, durationSeconds: 600 } })]);
      await w.clock.settle();
      assert.deepEqual(w.driver.inverseAccepted, ["io-1"], "the inverse offer is accepted: we move off");
      const window = { startSeconds: 3600, durationSeconds: 600 };
      for (let round = 0; round < 30 && w.live("/web").some((i) => i.agentId === "agent-h1"); round++) {
        await w.clock.advance(1000);
        w.s.callbacks.offers!([offer("h1", 8, window), offer("h2")]);
        await w.clock.settle();
        assert.ok(alive(w, "/web").length <= 5, `round ${round}: at most floor(4 × 1.25) alive`);
        assert.ok(healthy(w, "/web").length >= 3, `round ${round}: at least ceil(4 × 0.75) healthy`);
        await w.runAll();
        await w.killAcked();
      }
      assert.deepEqual(
        w.live("/web").map((i) => i.agentId),
        ["agent-h2", "agent-h2", "agent-h2", "agent-h2"],
      );
      assert.ok(before.every((id) => !w.s.state.instances.has(id)));
      assert.ok(w.driver.launched.every((t) => t.agentId?.value !== "agent-h1" || before.includes(t.taskId!.value)), "nothing new on the agent with maintenance");
      // Scale up while h1 still has maintenance ahead: its offers are declined, with the reason in /v2/queue.
      await w.s.putApp({ ...w.s.state.apps.get("/web")!, instances: 5 }, { force: true, create: false });
      await w.clock.advance(1000);
      w.s.callbacks.offers!([offer("h1", 8, window)]);
      await w.clock.settle();
      assert.equal(w.live("/web").length, 4);
      assert.equal(w.s.offerStats.get("/web")?.reasons.AgentMaintenance, 1);
      // The window is gone (rescinded; then offered without unavailability): h1 is used again.
      w.s.callbacks.rescindInverseOffer!("io-1");
      await w.clock.advance(1000);
      await w.offers("h1");
      assert.equal(w.live("/web").filter((i) => i.agentId === "agent-h1").length, 1);
      assert.equal(w.s.draining().size, 0);
    } finally {
      await w.close();
    }
  });
});
