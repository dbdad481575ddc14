import { connect } from "@nats-io/transport-node";
import { after, before } from "node:test";
import { testLogger } from "../../src/runtime/log.js";
import { NatsSubjects } from "../../src/runtime/transports/nats-subjects.js";
import { NatsTransport } from "../../src/runtime/transports/nats.js";
import { NatsServer } from "../support/nats-server.js";
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

transportConformance("NATS", { envelopes: true, frames: true }, async () => {
  const nodes = new RealTimeNodes();
  const subjects = new NatsSubjects("dcos.rt");
  return {
    name: "NATS",
    until: nodes.until,
    close: nodes.close,
    async node(options = {}) {
      const transport = await NatsTransport.connect({
        servers: server.url,
        address: options.address ?? `nats-node-${++n}`,
        ...(options.maxFrameBytes ? { maxFrameBytes: options.maxFrameBytes } : {}),
        heartbeatIntervalMs: 100,
        heartbeatTimeoutMs: 500,
        logger: testLogger(),
      });
      return nodes.start(transport);
    },
    async rawPeer(to) {
      const nc = await connect({ servers: server.url });
      nodes.onClose(async () => {
        if (!nc.isClosed()) await nc.close();
      });
      const address = `rogue-${++n}`;
      return {
        address,
        async frame(bytes: Uint8Array) {
          nc.publish(subjects.frames(to.address, address), bytes);
          await nc.flush();
        },
        close: () => nc.close(),
      };
    },
  };
});
