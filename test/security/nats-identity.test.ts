/**
 * Sender identity on the NATS transport (a real nats-server): frames are signed by the
 * publishing node's certificate, so a message's sender is the identity the signature
 * proves. Spoofed senders are dropped as `unauthenticated`: an unsigned frame, a frame
 * signed by a valid agent certificate on a subject naming another node (a master), a
 * principal's certificate, another CA's, and a frame altered after signing.
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { after, before, describe, it } from "node:test";
import { EnvelopeSchema, ProbeSchema } from "../../src/gen/dcos/v1/runtime_pb.js";
import { encodeFrame } from "../../src/runtime/frame-codec.js";
import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { NatsSubjects } from "../../src/runtime/transports/nats-subjects.js";
import { NatsTransport } from "../../src/runtime/transports/nats.js";
import { natsFrameAuthenticator } from "../../src/security/pki/nats-signing.js";
import type { TlsMaterial } from "../../src/security/pki/tls-files.js";
import { probe, Recorder } from "../support/actors.js";
import { NatsServer } from "../support/nats-server.js";
import { testTls } from "../support/test-pki.js";
import { waitFor } from "../support/wait.js";

let server: NatsServer;
const systems: ActorSystem[] = [];
before(async () => {
  server = await NatsServer.start();
});
after(async () => {
  for (const s of systems) await s.stop();
  await server?.stop();
});

async function node(address: string, tls: TlsMaterial): Promise<ActorSystem> {
  const transport = await NatsTransport.connect({ servers: server.url, address, frameAuth: natsFrameAuthenticator(tls), logger: testLogger() });
  const system = new ActorSystem({ transport, logger: testLogger() });
  await system.start();
  systems.push(system);
  return system;
}

const dropped = (s: ActorSystem) => s.metrics.value("runtime/dropped/unauthenticated") ?? 0;

describe("NATS transport: senders authenticated by signed frames", () => {
  it("an honest message carries the signer's identity; spoofed senders are dropped", async () => {
    const master = await node("master-1", await testTls("master", "master-1"));
    const agent = await node("agent-1", await testTls("agent", "agent-1"));
    const inbox = master.spawn(new Recorder("inbox"));
    const out = agent.spawn(new Recorder("out"));
    out.tell(inbox.self, probe(1));
    await waitFor(() => inbox.received.length === 1, "the honest message");
    assert.deepEqual(inbox.senders, [{ name: "agent-1", role: "agent", authenticated: true }]);

    const subjects = new NatsSubjects("dcos.rt");
    const nc = await connect({ servers: server.url });
    // Frames claiming to come from another master, to the master's inbox.
    const forged = (seq: number) =>
      encodeFrame([create(EnvelopeSchema, { from: "master@master-2", to: inbox.self.toString(), type: "dcos.v1.Probe", payload: toBinary(ProbeSchema, probe(seq)) })]);
    const subject = subjects.frames("master-1", "master-2");
    const publishSigned = (tls: TlsMaterial, frame: Uint8Array, tamper = false) => {
      const fields = natsFrameAuthenticator(tls).sign(subject, frame);
      const h = natsHeaders();
      for (const [k, v] of Object.entries(fields)) h.set(k, v);
      const sent = tamper ? Buffer.concat([Buffer.from(frame), Buffer.from([0])]) : frame;
      nc.publish(subject, sent, { headers: h });
    };
    nc.publish(subject, forged(2)); // unsigned
    publishSigned(await testTls("agent", "a-rogue"), forged(3)); // a real agent's certificate, claiming to be master-2
    publishSigned(await testTls("principal", "master-2"), forged(4)); // a principal named like the master
    publishSigned(await testTls("master", "master-2", { cluster: "evil" }), forged(5)); // another CA
    publishSigned(await testTls("master", "master-2"), forged(6), true); // altered after signing
    await nc.flush();
    await waitFor(() => dropped(master) === 5, "all five forged frames dropped as unauthenticated");
    // The real master-2 (its own certificate) gets through, with its identity.
    const master2 = await node("master-2", await testTls("master", "master-2"));
    master2.spawn(new Recorder("m2")).tell(inbox.self, probe(7));
    await waitFor(() => inbox.received.length === 2, "master-2's own message");
    assert.deepEqual(inbox.received.map((r) => r.seq), [1, 7], "none of the forged sequence numbers arrived");
    assert.deepEqual(inbox.senders[1], { name: "master-2", role: "master", authenticated: true });
    await nc.close();
  });
});
