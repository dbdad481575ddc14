import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { after, before } from "node:test";
import { testLogger } from "../../src/runtime/log.js";
import { NatsSubjects } from "../../src/runtime/transports/nats-subjects.js";
import { NatsTransport } from "../../src/runtime/transports/nats.js";
import { NatsServer } from "../support/nats-server.js";
import { testTls } from "../support/test-pki.js";
import { natsFrameAuthenticator } from "../../src/security/pki/nats-signing.js";
import { RealTimeNodes, transportConformance } from "./transport-conformance.js";

let server: NatsServer;
/** Addresses stay unique across tests: nodes of earlier tests live until the end. */
let n = 0;
before(async () => {
  server = await NatsServer.start();
});
after(async () => {
  await server?.stop();
});

/** The NATS harness; with `signed`, every node and raw peer signs its frames with a certificate of its own address. */
function natsHarness(signed: boolean) {
  return async () => {
    const nodes = new RealTimeNodes();
    const subjects = new NatsSubjects("dcos.rt");
    const frameAuth = async (address: string) => (signed ? { frameAuth: natsFrameAuthenticator(await testTls("agent", address)) } : {});
    return {
      name: signed ? "NATS signed" : "NATS",
      until: nodes.until,
      close: nodes.close,
      async node(options: { address?: string; maxFrameBytes?: number } = {}) {
        const address = options.address ?? `nats-node-${++n}`;
        const transport = await NatsTransport.connect({
          servers: server.url,
          address,
          ...(options.maxFrameBytes ? { maxFrameBytes: options.maxFrameBytes } : {}),
          heartbeatIntervalMs: 100,
          heartbeatTimeoutMs: 500,
          logger: testLogger(),
          ...(await frameAuth(address)),
        });
        return nodes.start(transport);
      },
      async rawPeer(to: { address: string }) {
        const nc = await connect({ servers: server.url });
        nodes.onClose(async () => {
          if (!nc.isClosed()) await nc.close();
        });
        const address = `rogue-${++n}`;
        const auth = signed ? natsFrameAuthenticator(await testTls("agent", address)) : undefined;
        return {
          address,
          async frame(bytes: Uint8Array) {
            const subject = subjects.frames(to.address, address);
            const h = natsHeaders();
            for (const [k, v] of Object.entries(auth?.sign(subject, bytes) ?? {})) h.set(k, v);
            nc.publish(subject, bytes, auth ? { headers: h } : undefined);
            await nc.flush();
          },
          close: () => nc.close(),
        };
      },
    };
  };
}

transportConformance("NATS", { envelopes: true, frames: true }, natsHarness(false));
// The same contract with signed frames (senders authenticated by their certificates; test/security/nats-identity has the forgeries).
transportConformance("NATS signed", { envelopes: true, frames: true }, natsHarness(true));
