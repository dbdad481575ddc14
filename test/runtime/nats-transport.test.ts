import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { after, before, describe, it } from "node:test";
import { Pid } from "../../src/runtime/pid.js";
import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { addressToken, NatsSubjects, tokenAddress } from "../../src/runtime/transports/nats-subjects.js";
import { NatsTransport, type NatsTransportOptions } from "../../src/runtime/transports/nats.js";
import { probe, Recorder } from "../support/actors.js";
import { NatsServer } from "../support/nats-server.js";
import { waitFor } from "../support/wait.js";

let server: NatsServer;
const systems: ActorSystem[] = [];
const raw: NatsConnection[] = [];
before(async () => {
  server = await NatsServer.start();
});
after(async () => {
  for (const nc of raw) await nc.close();
  for (const s of systems) await s.stop();
  await server?.stop();
});

async function node(address: string, options: Partial<NatsTransportOptions> = {}) {
  const transport = await NatsTransport.connect({ servers: server.url, address, logger: testLogger(), ...options });
  const system = new ActorSystem({ transport, logger: testLogger() });
  await system.start();
  systems.push(system);
  return { system, transport, actor: system.spawn(new Recorder("r")) };
}

describe("NATS subjects", () => {
  it("turn any address without whitespace into one token and back", () => {
    for (const a of ["10.0.0.1:5050", "a*b>c", "100%", "master-1", "x.y%2Ez"]) {
      const token = addressToken(a);
      assert.doesNotMatch(token, /[.*>\s]/);
      assert.equal(tokenAddress(token), a);
    }
    const s = new NatsSubjects("dcos.rt");
    assert.equal(s.sender(s.frames("10.0.0.2:1", "10.0.0.1:5050")), "10.0.0.1:5050");
  });
});

describe("NatsTransport", () => {
  it("carries messages between nodes whose addresses contain dots, batched into frames", async () => {
    const one = await node("10.0.0.1:5050");
    const two = await node("10.0.0.2:5051");
    for (let i = 0; i < 5000; i++) one.actor.tell(two.actor.self, probe(i));
    await waitFor(() => two.actor.received.length === 5000, "5000 messages");
    assert.deepEqual(two.actor.seqs(), [...Array(5000).keys()]);
    assert.equal(two.actor.received[0]!.from, "r@10.0.0.1:5050");
    assert.ok(one.transport.stats.framesSent <= 20, `${one.transport.stats.framesSent} frames for 5000 messages`);
  });

  it("counts a linked peer that subscribes but never answers as exited after the heartbeat timeout", async () => {
    const silent = await connect({ servers: server.url });
    raw.push(silent);
    silent.subscribe(new NatsSubjects("dcos.rt").probe("silent"), { callback: () => {} });
    await silent.flush();
    const one = await node("watcher", { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 300 });
    await one.system.dispatch(one.actor, (a) => a.watch(new Pid("x", "silent")));
    await waitFor(() => one.actor.exits.length === 1, "exited for the silent peer");
    assert.deepEqual(one.actor.exits, ["x@silent"]);
    assert.equal(one.transport.stats.probesSent, 1);
  });

  it("keeps probing a live linked peer without reporting it exited", async () => {
    const one = await node("prober", { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 1000 });
    const two = await node("probed");
    await one.system.dispatch(one.actor, (a) => a.watch(two.actor.self));
    await waitFor(() => one.transport.stats.probesSent >= 5, "5 answered probes");
    assert.deepEqual(one.actor.exits, []);
    await two.system.stop();
    await waitFor(() => one.actor.exits.length === 1, "exited once the peer stops");
  });

  it("refuses an address with whitespace", async () => {
    await assert.rejects(NatsTransport.connect({ servers: server.url, address: "a b" }), /Invalid NATS node address 'a b'/);
  });
});

describe("NatsServer test support", () => {
  it("says how to install nats-server when it is missing", async () => {
    const saved = process.env.NATS_SERVER_BIN;
    process.env.NATS_SERVER_BIN = "/nonexistent/nats-server";
    try {
      const { NatsServer: Fresh } = await import(`../support/nats-server.js?missing=${Date.now()}`);
      await assert.rejects((Fresh as typeof NatsServer).start(), /install it: apt-get install nats-server \(deploy\/setup-host.sh does this\)/);
    } finally {
      if (saved === undefined) delete process.env.NATS_SERVER_BIN;
      else process.env.NATS_SERVER_BIN = saved;
    }
  });
});
