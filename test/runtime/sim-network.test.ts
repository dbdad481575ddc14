import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/runtime/clock.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { SimNetwork, type LinkFaults } from "../../src/runtime/transports/sim-network.js";
import { probe, Recorder } from "../support/actors.js";

async function cluster(seed: number, faults: Partial<LinkFaults> = {}, names = ["a", "b", "c"]) {
  const clock = new ManualClock(0);
  const net = new SimNetwork({ clock, seed, faults });
  const nodes = new Map<string, { system: ActorSystem; actor: Recorder }>();
  for (const n of names) {
    const system = new ActorSystem({ clock, transport: net.transport(n) });
    await system.start();
    nodes.set(n, { system, actor: system.spawn(new Recorder("r")) });
  }
  await clock.settle();
  const node = (n: string) => nodes.get(n)!;
  return { clock, net, node };
}

describe("SimNetwork", () => {
  it("keeps messages on a link in order despite random delays", async () => {
    const { clock, node } = await cluster(7, { minDelayMs: 1, maxDelayMs: 50 });
    for (let i = 0; i < 500; i++) node("a").actor.tell(node("b").actor.self, probe(i));
    await clock.advance(1000);
    assert.deepEqual(node("b").actor.seqs(), [...Array(500).keys()]);
  });

  it("reorders only when told to", async () => {
    const { clock, node } = await cluster(7, { minDelayMs: 1, maxDelayMs: 50, reorder: true });
    for (let i = 0; i < 500; i++) node("a").actor.tell(node("b").actor.self, probe(i));
    await clock.advance(1000);
    const got = node("b").actor.seqs();
    assert.equal(got.length, 500);
    assert.notDeepEqual(got, [...Array(500).keys()]);
    assert.deepEqual([...got].sort((x, y) => x - y), [...Array(500).keys()]);
  });

  it("drops and duplicates at the configured rates", async () => {
    const { clock, net, node } = await cluster(11, { drop: 0.2, duplicate: 0.1 });
    for (let i = 0; i < 2000; i++) node("a").actor.tell(node("b").actor.self, probe(i));
    await clock.advance(100);
    assert.ok(net.stats.dropped > 300 && net.stats.dropped < 500, `dropped ${net.stats.dropped}`);
    assert.ok(net.stats.duplicated > 100 && net.stats.duplicated < 230, `duplicated ${net.stats.duplicated}`);
    assert.equal(node("b").actor.received.length, 2000 - net.stats.dropped + net.stats.duplicated);
  });

  it("replays identically from the same seed", async () => {
    const run = async (seed: number) => {
      const { clock, node } = await cluster(seed, { minDelayMs: 0, maxDelayMs: 20, drop: 0.1, duplicate: 0.1, reorder: true });
      for (let i = 0; i < 300; i++) {
        node("a").actor.tell(node("c").actor.self, probe(i, "a"));
        node("b").actor.tell(node("c").actor.self, probe(i, "b"));
      }
      await clock.advance(500);
      return node("c").actor.received.map((r) => `${r.tag}${r.seq}`).join(",");
    };
    const first = await run(42);
    assert.equal(await run(42), first);
    assert.notEqual(await run(43), first);
  });

  it("a partition breaks links (exited on both sides) and loses messages until healed", async () => {
    const { clock, net, node } = await cluster(3);
    const a = node("a").actor;
    const b = node("b").actor;
    await node("a").system.dispatch(a, (x) => x.watch(b.self));
    await node("b").system.dispatch(b, (x) => x.watch(a.self));
    await clock.settle();
    net.partition(["a"], ["b", "c"]);
    await clock.settle();
    assert.deepEqual(a.exits, ["r@b"]);
    assert.deepEqual(b.exits, ["r@a"]);
    a.tell(b.self, probe(1));
    await clock.advance(10);
    assert.deepEqual(b.seqs(), []);
    net.heal();
    a.tell(b.self, probe(2));
    await clock.advance(10);
    assert.deepEqual(b.seqs(), [2]);
  });

  it("a one-way cut loses traffic in one direction only", async () => {
    const { clock, net, node } = await cluster(3);
    net.cutOneWay("a", "b");
    node("a").actor.tell(node("b").actor.self, probe(1));
    node("b").actor.tell(node("a").actor.self, probe(2));
    await clock.advance(10);
    assert.deepEqual(node("b").actor.seqs(), []);
    assert.deepEqual(node("a").actor.seqs(), [2]);
  });

  it("a crashed node's peers see exited, linking to it later exits at once, and it can come back", async () => {
    const { clock, net, node } = await cluster(5);
    const a = node("a").actor;
    await node("a").system.dispatch(a, (x) => x.watch(node("b").actor.self));
    net.crash("b");
    await clock.settle();
    assert.deepEqual(a.exits, ["r@b"]);
    await node("a").system.dispatch(a, (x) => x.watch(node("b").actor.self));
    await clock.settle();
    assert.deepEqual(a.exits, ["r@b", "r@b"]);
    const b2 = new ActorSystem({ clock, transport: net.transport("b") });
    await b2.start();
    const r2 = b2.spawn(new Recorder("r"));
    a.tell(r2.self, probe(9));
    await clock.advance(5);
    assert.deepEqual(r2.seqs(), [9]);
  });

  it("messages in flight to a node that crashed are not delivered to its next incarnation", async () => {
    const { clock, net, node } = await cluster(5, { minDelayMs: 10, maxDelayMs: 10 });
    node("a").actor.tell(node("b").actor.self, probe(1));
    net.crash("b");
    const b2 = new ActorSystem({ clock, transport: net.transport("b") });
    await b2.start();
    const r2 = b2.spawn(new Recorder("r"));
    await clock.advance(20);
    assert.deepEqual(r2.seqs(), []);
  });
});
