import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PartsBody } from "../../src/operator/body-parts.js";
import { StateBytesCache, type InActor } from "../../src/operator/state-cache.js";

/** A master's core as the cache sees it: a new object per elected term, its version from 0. */
class Core {
  constructor(
    readonly term: number,
    public stateVersion: number,
  ) {}
}

describe("state bytes cache", () => {
  it("stale /state after re-election: a master re-elected in the same process serves the new term's state with a new ETag", async () => {
    let core = new Core(1, 0);
    const inActor: InActor<Core> = async (fn) => fn(core);
    const cache = new StateBytesCache<Core>({ runId: "run", minRebuildIntervalMs: 0 }, (c) => c.stateVersion, (c) => PartsBody.of(JSON.stringify({ term: c.term, version: c.stateVersion })));
    core.stateVersion = 57;
    const before = await cache.get(inActor);
    assert.deepEqual(JSON.parse(before.body.toString()), { term: 1, version: 57 });
    // Deposed, then elected again: a fresh core whose version restarted below the cached one.
    core = new Core(3, 4);
    const after = await cache.get(inActor);
    assert.deepEqual(JSON.parse(after.body.toString()), { term: 3, version: 4 }, "not the previous term's snapshot");
    assert.notEqual(after.etag, before.etag);
    core.stateVersion = 5;
    assert.deepEqual(JSON.parse((await cache.get(inActor)).body.toString()), { term: 3, version: 5 });
    assert.equal(cache.builds, 3);
    assert.equal((await cache.get(inActor)).etag, (await cache.get(inActor)).etag, "unchanged state keeps its ETag");
  });
});
