import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { AgentInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { TaskSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { InMemoryRegistrar } from "../../src/actors/master/registry.js";
import { SMALL_COUNTS_KEYS, SmallCounts } from "../../src/actors/master/small-counts.js";
import { parseResources } from "../../src/resources/index.js";
import { Random } from "../../src/runtime/random.js";
import { HeapGraph } from "../support/heap-graph.js";
import { testSeed } from "../support/seed.js";
import { Cluster } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe("master: small counts (the per-agent tallies)", () => {
  for (const seed of [1, 2, 3]) {
    it(`answer as a Map would after every step of a random run, below and beyond ${SMALL_COUNTS_KEYS} keys (seed ${seed})`, () => {
      const r = new Random(testSeed(seed));
      const counts = new SmallCounts<string>();
      const map = new Map<string, number>();
      for (let step = 0; step < 2000; step++) {
        // Few keys at first, then up to 20 (past the list's limit), then few again.
        const keys = step < 700 || step > 1400 ? 6 : 20;
        const key = `k${r.int(keys)}`;
        if (r.int(3) === 0) assert.equal(counts.delete(key), map.delete(key), `seed ${seed} step ${step}: delete ${key}`);
        else {
          const n = r.int(5) + 1;
          counts.set(key, n);
          map.set(key, n);
        }
        const at = `seed ${seed} step ${step}`;
        assert.equal(counts.size, map.size, at);
        assert.equal(counts.get(key), map.get(key), at);
        assert.deepEqual([...counts], [...map], `${at}: entries in insertion order`);
        assert.deepEqual([...counts.keys()], [...map.keys()], at);
      }
    });
  }

  it("an agent's tallies keep their counts in no Map (a heap snapshot's TaskTallies)", async () => {
    const registrar = new InMemoryRegistrar();
    const ids = Array.from({ length: SMALL_COUNTS_KEYS }, (_, i) => `m0-S${i + 1}`); // the frameworks' tallies count as many agents: small too
    for (const id of ids) await registrar.apply({ kind: "admitAgent", agentId: id, info: create(AgentInfoSchema, { id: { value: id }, hostname: id, pid: `agent@${id}:5051`, resources: parseResources("cpus:4;mem:4096").toProto() }) });
    const c = (cluster = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 60_000 }));
    const fws = [await c.subscribe("a"), await c.subscribe("b")];
    for (const [i, id] of ids.entries()) {
      const tasks = fws.map((f, k) => create(TaskSchema, { taskId: { value: `t${i}-${k}` }, frameworkId: { value: f.frameworkId }, agentId: { value: id }, state: TaskState.RUNNING, resources: parseResources("cpus:0.1;mem:32").toProto() }));
      await c.addAgent(id, "cpus:4;mem:4096", id, tasks);
    }
    assert.equal(c.metric("master/tasks_running"), 2 * ids.length);
    const heap = await HeapGraph.take();
    const tallies = [...heap.objectsOf("TaskTally")];
    assert.ok(tallies.length >= ids.length, `${tallies.length} tallies in the heap`);
    for (const t of tallies) {
      const held = [...heap.edges(t, "property")].filter(([name]) => name === "states" || name === "peers");
      assert.deepEqual(held.map(([name, to]) => `${name}: ${heap.name(to)}`), ["states: SmallCounts", "peers: SmallCounts"]);
      for (const [, to] of held) assert.deepEqual([...heap.edges(to, "property")].filter(([, x]) => heap.name(x) === "Map").map(([name]) => name), [], "no Map inside");
    }
  });
});
