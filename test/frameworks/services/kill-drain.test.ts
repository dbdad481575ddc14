/**
 * Load balancers take an instance out of rotation before it dies: when the services leader
 * decides to kill one (scale down, a kill by request), it publishes the instance as
 * Killing before the kill leaves, the API shows the task as TASK_KILLING from then on, and
 * the kill carries the app's taskKillGracePeriodSeconds (the time the instance has to
 * finish what it serves).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { web, World } from "../../support/services-world.js";

async function running(w: World, fields: Record<string, unknown>): Promise<void> {
  await w.lead("a");
  await w.s.putApp(web(fields), { force: false, create: true });
  await w.clock.advance(1000);
  await w.offers("h1", "h2");
  await w.runAll(true);
  await w.clock.advance(1000);
}

/** Records, for each kill the driver gets, whether the Killing event was published before it and the grace period. */
function watchKills(w: World): { id: string; toldBefore: boolean; grace: number | undefined }[] {
  const kills: { id: string; toldBefore: boolean; grace: number | undefined }[] = [];
  const kill = w.driver.kill.bind(w.driver);
  (w.driver as { kill: (id: string, agent?: string, policy?: { gracePeriodSeconds?: number }) => Promise<void> }).kill = async (id, _agent, policy) => {
    const toldBefore = w.events.some((e) => e.type === "instance_changed_event" && e.data["instanceId"] === id && e.data["condition"] === "Killing");
    kills.push({ id, toldBefore, grace: policy?.gracePeriodSeconds });
    return kill(id);
  };
  return kills;
}

describe("services: an instance being killed is announced before the kill", () => {
  it("scale down: each instance killed was published as Killing first, shows TASK_KILLING, and is killed with the app's grace period", async () => {
    const w = new World();
    try {
      await running(w, { taskKillGracePeriodSeconds: 7 });
      const kills = watchKills(w);
      const put = await w.api("PUT", "/v2/apps/web", { instances: 1 });
      assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
      await w.clock.advance(1000);
      assert.equal(kills.length, 2, JSON.stringify(kills));
      for (const k of kills) {
        assert.ok(k.toldBefore, `${k.id}: Killing published before the kill`);
        assert.equal(k.grace, 7);
      }
      const tasks = (await w.api("GET", "/v2/apps/web/tasks")).body.tasks as { id: string; state: string }[];
      for (const k of kills) assert.equal(tasks.find((t) => t.id === k.id)?.state, "TASK_KILLING");
      // A retried kill is not announced again.
      const announced = w.events.filter((e) => e.type === "instance_changed_event" && e.data["condition"] === "Killing").length;
      await w.clock.advance(11_000);
      assert.ok(kills.length > 2, "the kill was retried");
      assert.equal(w.events.filter((e) => e.type === "instance_changed_event" && e.data["condition"] === "Killing").length, announced);
    } finally {
      await w.close();
    }
  });

  it("a kill by request is announced before it leaves too", async () => {
    const w = new World();
    try {
      await running(w, {});
      const kills = watchKills(w);
      const [victim] = w.live("/web");
      await w.s.killInstances([victim!.id], { scale: false, wipe: false });
      assert.deepEqual(kills.map((k) => [k.id, k.toldBefore]), [[victim!.id, true]]);
    } finally {
      await w.close();
    }
  });
});
