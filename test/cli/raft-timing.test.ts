import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, DcosError } from "../../src/runtime/error.js";
import { RAFT_TIMING_DEFAULTS, raftTiming } from "../../src/raft/timing.js";

describe("--raft-tick and --raft-election-timeout (fault-tolerance hole 5)", () => {
  it("default to etcd's 100 ms tick and 1 s election timeout, a heartbeat every tick", () => {
    assert.deepEqual(RAFT_TIMING_DEFAULTS, { tickMs: 100, electionTimeoutMs: 1_000 });
    assert.deepEqual(raftTiming(), { tickMs: 100, electionTicks: 10, heartbeatTicks: 1 });
    assert.deepEqual(raftTiming(50, 2_000), { tickMs: 50, electionTicks: 40, heartbeatTicks: 1 });
  });

  it("refuse a timeout shorter than three ticks, not a whole number of ticks, or a tick out of range", () => {
    const refused = (tick: number, election: number, message: RegExp) =>
      assert.throws(() => raftTiming(tick, election), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && message.test(e.message));
    refused(100, 200, /at least 3 ticks/);
    refused(100, 1_050, /whole number of ticks of 100 ms/);
    refused(0, 1_000, /--raft-tick must be between/);
    refused(20_000, 100_000, /--raft-tick must be between/);
  });
});
