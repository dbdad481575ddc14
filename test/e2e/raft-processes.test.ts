import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProcessCluster } from "../support/raft-processes.js";
import { waitFor } from "../support/wait.js";

describe("Raft members in separate processes (gRPC on loopback, real fdatasync)", () => {
  it("loses nothing acknowledged when the leader is killed with kill -9 while clients write", async () => {
    const c = await ProcessCluster.start(3, "list");
    let stop = false;
    try {
      const first = await c.leader(15_000);
      let counter = 0;
      const writer = (async () => {
        while (!stop) {
          const leader = await c.leader(15_000).catch(() => undefined);
          if (!leader || stop) continue;
          const values = Array.from({ length: 100 }, () => `w${counter++}`);
          await leader.call({ cmd: "write", values, window: 32 }).catch(() => undefined);
        }
      })();
      await waitFor(() => first.acked.length >= 300, "300 writes acknowledged by the first leader", 20_000);
      await first.kill9();
      const next = await c.leader(15_000);
      assert.notEqual(next, first);
      await waitFor(() => next.acked.length >= 300, "300 writes acknowledged by the new leader", 20_000);
      stop = true;
      await writer;
      await first.start();

      const acked = c.members.flatMap((m) => m.acked);
      assert.equal(new Set(acked).size, acked.length, "every value was acknowledged once");
      const lists = await waitFor(async () => {
        const got = await Promise.all(c.members.map((m) => m.call<string[]>({ cmd: "items" })));
        const [a, b, d] = got;
        return a!.length === b!.length && b!.length === d!.length && a!.length >= acked.length ? got : undefined;
      }, "all three members (the killed one restarted from its log) to apply the same entries", 30_000);
      for (const [i, list] of lists.entries()) {
        const applied = new Set(list);
        assert.equal(applied.size, list.length, `member ${i + 1} applied a value twice`);
        const missing = acked.filter((v) => !applied.has(v));
        assert.deepEqual(missing, [], `member ${i + 1} lost acknowledged writes`);
        assert.deepEqual(list, lists[0], `member ${i + 1} applied a different sequence`);
      }
    } finally {
      stop = true;
      await c.stop();
    }
  });
});
