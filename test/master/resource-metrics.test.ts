import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Cluster, commandTask } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function usage(c: Cluster, name: string): { total?: number; used?: number; offered?: number; percent?: number } {
  return {
    total: c.metric(`master/${name}_total`),
    used: c.metric(`master/${name}_used`),
    offered: c.metric(`master/${name}_offered`),
    percent: c.metric(`master/${name}_percent`),
  };
}

describe("master: resource metrics", () => {
  it("cpus/mem/disk total, used and percent follow agents and tasks; offered follows offers", async () => {
    const c = (cluster = await Cluster.start({ agents: 2, agentResources: "cpus:4;mem:4096;disk:1000" }));
    assert.deepEqual(usage(c, "cpus"), { total: 8, used: 0, offered: 0, percent: 0 });
    assert.deepEqual(usage(c, "disk"), { total: 2000, used: 0, offered: 0, percent: 0 });

    const s = await c.subscribe("fw");
    assert.equal(c.metric("master/cpus_offered"), 8, "both agents offered");
    const [offer] = s.sink.offers().filter((o) => o.agentId?.value === c.agents[0]!.agentId);
    await c.launch(s, [offer!], [commandTask("t1", "cpus:1;mem:1024;disk:100"), commandTask("t2", "cpus:2;mem:1024")]);
    assert.deepEqual(usage(c, "cpus"), { total: 8, used: 3, offered: c.metric("master/cpus_offered"), percent: 37.5 });
    assert.deepEqual(usage(c, "mem"), { total: 8192, used: 2048, offered: c.metric("master/mem_offered"), percent: 25 });
    assert.equal(c.metric("master/disk_used"), 100);
    assert.equal(c.metric("master/gpus_total"), 0);

    // A terminal task no longer uses anything, even before its update is acknowledged.
    c.agents[0]!.update(s.frameworkId, "t2", TaskState.FINISHED);
    await c.clock.settle();
    assert.equal(c.metric("master/cpus_used"), 1);
    assert.equal(c.metric("master/cpus_percent"), 12.5);

    // An unreachable agent leaves the totals, with what ran on it.
    c.agents[0]!.answerPings = false;
    await c.clock.advanceUntil(() => c.metric("master/slaves_unreachable") === 1, 7 * 15_000, 1000);
    assert.deepEqual(usage(c, "cpus"), { total: 4, used: 0, offered: c.metric("master/cpus_offered"), percent: 0 });
  });

  it("gpus are counted like the others", async () => {
    const c = (cluster = await Cluster.start({ agents: 1, agentResources: "cpus:4;mem:4096;gpus:2" }));
    await c.addAgent("gpu-less", "cpus:1;mem:512");
    assert.equal(c.metric("master/gpus_total"), 2);
    assert.equal(c.metric("master/gpus_used"), 0);
    assert.equal(c.metric("master/gpus_percent"), 0);
    assert.equal(c.metric("master/cpus_total"), 5);
  });
});
