import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MasterDetector } from "../../src/actors/agent/master-detector.js";
import { Pid } from "../../src/runtime/pid.js";

const masters = ["m1:5050", "m2:5050", "m3:5050"].map((a) => new Pid("master", a));

describe("An agent's master detector", () => {
  it("starts with the first master and moves round the list when attempts go unanswered", () => {
    const d = new MasterDetector(masters);
    assert.equal(d.current.toString(), "master@m1:5050");
    assert.deepEqual([d.next(), d.next(), d.next()].map(String), ["master@m2:5050", "master@m3:5050", "master@m1:5050"]);
  });

  it("follows a leader named by one of its masters and keeps it for the next attempts", () => {
    const d = new MasterDetector(masters);
    const outcome = d.announced(new Pid("master", "m1:5050"), "master@m3:5050", 4);
    assert.deepEqual(outcome, { follow: masters[2], changed: true });
    assert.equal(d.current.toString(), "master@m3:5050");
    assert.equal(d.next().toString(), "master@m3:5050", "the named leader gets a second attempt");
    assert.equal(d.next().toString(), "master@m1:5050", "a second unanswered attempt moves on from the leader's place in the list");
    assert.equal(d.next().toString(), "master@m2:5050", "a guessed master gets one attempt");
  });

  it("gives a leader named again (a ping, an announcement, an answer) its patience anew", () => {
    const d = new MasterDetector(masters);
    d.announced(masters[0]!, "master@m2:5050", 3);
    assert.equal(d.next().toString(), "master@m2:5050");
    d.pinged(masters[1]!, 3);
    assert.equal(d.next().toString(), "master@m2:5050", "the ping renewed its patience");
    assert.equal(d.next().toString(), "master@m3:5050");
    assert.ok(d.registeredWith(masters[1]!));
    assert.equal(d.next().toString(), "master@m2:5050", "the master that registered the agent leads: patience again");
  });

  it("refuses announcements of older terms, from strangers, and without a leader", () => {
    const d = new MasterDetector(masters);
    d.announced(masters[1]!, "master@m2:5050", 7);
    assert.match((d.announced(masters[0]!, "master@m1:5050", 6) as { ignore: string }).ignore, /term 6 is older than term 7/);
    assert.match((d.announced(new Pid("master", "evil:1"), "master@evil:1", 9) as { ignore: string }).ignore, /not one of the masters/);
    assert.match((d.announced(masters[0]!, "", 9) as { ignore: string }).ignore, /names no leader/);
    assert.equal(d.current.toString(), "master@m2:5050");
    assert.deepEqual(d.announced(masters[2]!, "master@m2:5050", 7), { follow: masters[1], changed: false }, "the same leader again is not a change");
  });
});
