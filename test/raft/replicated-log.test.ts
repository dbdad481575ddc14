import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, DcosError } from "../../src/runtime/error.js";
import { ReplicatedLog, ReplicatedLogMachine } from "../../src/raft/replicated-log.js";
import { SimRaftCluster, bytes, str } from "../support/raft-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(5);

async function logCluster(extra = {}) {
  const c = await SimRaftCluster.start(SEED, () => new ReplicatedLogMachine(), { extra });
  const leader = await c.waitForLeader();
  return { c, log: new ReplicatedLog(leader.node) };
}

describe(`ReplicatedLog (seed ${SEED})`, () => {
  it("assigns positions 0, 1, 2… in order and reads a range back", async () => {
    const { c, log } = await logCluster();
    const positions: number[] = [];
    for (const v of ["a", "b", "c", "d"]) {
      const r = await c.settleOn(log.append(bytes(v)));
      assert.ok(r.ok);
      positions.push(r.value);
    }
    assert.deepEqual(positions, [0, 1, 2, 3]);
    const read = await c.settleOn(log.read(1, 3));
    assert.ok(read.ok);
    assert.deepEqual(read.value.map((r) => [Number(r.position), str(r.data)]), [[1, "b"], [2, "c"]]);
    const past = await c.settleOn(log.read(2, 100));
    assert.ok(past.ok);
    assert.deepEqual(past.value.map((r) => Number(r.position)), [2, 3]);
    await c.stop();
  });

  it("truncates: positions before the cut are gone (OUT_OF_RANGE), the rest stay readable, and so on every member", async () => {
    const { c, log } = await logCluster();
    for (const v of ["a", "b", "c", "d"]) await c.settleOn(log.append(bytes(v)));
    assert.ok((await c.settleOn(log.truncate(2))).ok);
    const gone = await c.settleOn(log.read(0, 4));
    assert.ok(!gone.ok && DcosError.is(gone.error, Code.OUT_OF_RANGE), String(!gone.ok && gone.error));
    assert.match((gone as { error: Error }).error.message, /truncated: the log begins at 2/);
    const bounds = await c.settleOn(log.bounds());
    assert.ok(bounds.ok);
    assert.deepEqual(bounds.value, { first: 2, next: 4 });
    await c.clock.advance(500);
    for (const m of c.up()) assert.deepEqual(m.node.machine.read(2, 4).map((r) => str(r.data)), ["c", "d"], m.address);
    await c.stop();
  });

  it("refuses a truncation past the end and an inverted range with precise errors", async () => {
    const { c, log } = await logCluster();
    await c.settleOn(log.append(bytes("a")));
    const far = await c.settleOn(log.truncate(5));
    assert.ok(!far.ok && DcosError.is(far.error, Code.OUT_OF_RANGE), String(!far.ok && far.error));
    const inverted = await c.settleOn(log.read(3, 1));
    assert.ok(!inverted.ok && DcosError.is(inverted.error, Code.INVALID_ARGUMENT));
    await c.stop();
  });

  it("survives snapshots: a member restarted after compaction reads the same records", async () => {
    const { c, log } = await logCluster({ snapshotEntries: 10, catchUpEntries: 2 });
    for (let i = 0; i < 30; i++) assert.ok((await c.settleOn(log.append(bytes(`r${i}`)))).ok);
    await c.settleOn(log.truncate(5));
    await c.clock.advance(500);
    const follower = c.up().find((m) => m.node.status().role !== "leader")!;
    await c.crash(follower.address);
    const back = await c.startMember(follower.address);
    await c.clock.advance(2_000);
    assert.deepEqual(back.node.machine.read(5, 30).map((r) => str(r.data)), Array.from({ length: 25 }, (_, i) => `r${i + 5}`));
    assert.equal(back.node.machine.first, 5);
    await c.stop();
  });
});
