import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startNode, type Node } from "../../src/node/node.js";
import { testLogger } from "../../src/runtime/log.js";
import { channelCredentials } from "../../src/security/pki/grpc-credentials.js";
import type { TlsMaterial } from "../../src/security/pki/tls-files.js";
import { probe, Recorder } from "../support/actors.js";
import { RawGrpcPeer } from "../support/raw-grpc-peer.js";
import { testTls } from "../support/test-pki.js";
import { waitFor } from "../support/wait.js";

const nodes: Node[] = [];
after(async () => {
  for (const n of nodes) await n.stop();
});

async function node(tls?: TlsMaterial, plaintextClients = false) {
  const n = await startNode({ port: 0, logger: testLogger(), ...(tls ? { tls, plaintextClients } : {}) });
  nodes.push(n);
  return { node: n, actor: n.system.spawn(new Recorder("r")) };
}

const counter = (n: Node, name: string) => n.metrics.counter(name, "").value;

describe("mutual TLS on the actor transport", () => {
  it("delivers between nodes of the cluster CA, each message carrying the sender's certificate identity", async () => {
    const master = await node(await testTls("master", "m1"));
    const agent = await node(await testTls("agent", "a1"));
    agent.actor.tell(master.actor.self, probe(1));
    master.actor.tell(agent.actor.self, probe(2));
    await waitFor(() => master.actor.received.length === 1 && agent.actor.received.length === 1, "one message each way");
    assert.deepEqual(master.actor.senders, [{ name: "a1", role: "agent", authenticated: true }]);
    assert.deepEqual(agent.actor.senders, [{ name: "m1", role: "master", authenticated: true }]);
  });

  it("a node's own actors are known to each other by its certificate", async () => {
    const master = await node(await testTls("master", "m2"));
    const other = master.node.system.spawn(new Recorder("other"));
    master.actor.tell(other.self, probe(1));
    await waitFor(() => other.received.length === 1, "a local message");
    assert.deepEqual(other.senders, [{ name: "m2", role: "master", authenticated: true }]);
  });

  it("a plaintext node cannot reach a TLS node: nothing is delivered, the sender gives the messages up", async () => {
    const master = await node(await testTls("master", "m3"));
    const rogue = await node();
    rogue.actor.tell(master.actor.self, probe(1));
    await waitFor(() => counter(rogue.node, "runtime/dropped/unreachable") >= 1, "the rogue's message given up");
    assert.equal(master.actor.received.length, 0);
  });

  it("a node with a certificate of another CA cannot connect", async () => {
    const master = await node(await testTls("master", "m4"));
    const rogue = await node(await testTls("agent", "a-evil", { cluster: "evil" }));
    rogue.actor.tell(master.actor.self, probe(1));
    await waitFor(() => counter(rogue.node, "runtime/dropped/unreachable") >= 1, "the rogue's message given up");
    assert.equal(master.actor.received.length, 0);
  });

  it("a principal's certificate (a framework's) may use the port but not join the actor transport", async () => {
    const master = await node(await testTls("master", "m5"));
    const fw = await node(await testTls("principal", "fw"));
    fw.actor.tell(master.actor.self, probe(1));
    await waitFor(() => master.node.transport.stats.refusedStreams >= 1, "the principal's stream refused");
    await waitFor(() => counter(fw.node, "runtime/dropped/unreachable") >= 1, "the principal's message given up");
    assert.equal(master.actor.received.length, 0);
  });

  it("refuses a node whose certificate does not name the host of the address it claims", async () => {
    const master = await node(await testTls("master", "m6"));
    const agentTls = await testTls("agent", "a6");
    const peer = RawGrpcPeer.open(master.node.address, "10.9.9.9:5051", channelCredentials(agentTls));
    const error = await waitFor(() => peer.error, "the stream refused");
    assert.match(error.message, /UNAUTHENTICATED.*claims address 10\.9\.9\.9:5051, but its certificate names only 127\.0\.0\.1, localhost/);
    assert.equal(master.node.transport.stats.refusedStreams, 1);
    await peer.close();
  });

  it("a port shared with plaintext clients (dev cluster) still takes only certified nodes on the actor transport", async () => {
    const master = await node(await testTls("master", "m8"), true);
    const agent = await node(await testTls("agent", "a8"));
    agent.actor.tell(master.actor.self, probe(1));
    await waitFor(() => master.actor.received.length === 1, "a message from a TLS node");
    assert.deepEqual(master.actor.senders, [{ name: "a8", role: "agent", authenticated: true }]);
    // A plaintext client reaches the server (no TLS handshake fails), and the transport refuses it.
    const plain = RawGrpcPeer.open(master.node.address, "127.0.0.1:9");
    const error = await waitFor(() => plain.error, "the plaintext stream refused");
    assert.match(error.message, /UNAUTHENTICATED.*needs a client certificate/);
    await plain.close();
  });

  it("drops, as spoofed, an envelope whose sender is not on the node of its connection", async () => {
    const master = await node(await testTls("master", "m7"));
    const agentTls = await testTls("agent", "a7");
    const peer = await RawGrpcPeer.connect(master.node.address, "127.0.0.1:1", channelCredentials(agentTls));
    const forged = { from: `master@127.0.0.1:2`, to: master.actor.self.toString(), type: "dcos.v1.Probe", payload: new Uint8Array() };
    const honest = { ...forged, from: "agent@127.0.0.1:1" };
    await peer.envelopes([forged, honest]);
    await waitFor(() => master.actor.received.length === 1, "the honest envelope");
    assert.equal(master.actor.received[0]!.from, "agent@127.0.0.1:1");
    assert.deepEqual(master.actor.senders, [{ name: "a7", role: "agent", authenticated: true }]);
    assert.equal(counter(master.node, "runtime/dropped/spoofed"), 1);
    await peer.close();
  });
});
