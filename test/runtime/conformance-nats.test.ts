import { connect, type NatsConnection } from "@nats-io/transport-node";
import { after, before } from "node:test";
import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { NatsSubjects } from "../../src/runtime/transports/nats-subjects.js";
import { NatsTransport } from "../../src/runtime/transports/nats.js";
import { NatsServer } from "../support/nats-server.js";
import { waitFor } from "../support/wait.js";
import { transportConformance } from "./transport-conformance.js";

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
  const systems: ActorSystem[] = [];
  const raw: NatsConnection[] = [];
  const subjects = new NatsSubjects("dcos.rt");
  return {
    name: "NATS",
    async node(options = {}) {
      const transport = await NatsTransport.connect({
        servers: server.url,
        address: options.address ?? `nats-node-${process.pid}-${++n}`,
        ...(options.maxFrameBytes ? { maxFrameBytes: options.maxFrameBytes } : {}),
        heartbeatIntervalMs: 100,
        heartbeatTimeoutMs: 500,
        logger: testLogger(),
      });
      const system = new ActorSystem({ transport, logger: testLogger() });
      await system.start();
      systems.push(system);
      return system;
    },
    until: async (cond, what) => {
      await waitFor(() => cond(), what, 15_000, 5);
    },
    async rawPeer(to) {
      const nc = await connect({ servers: server.url });
      raw.push(nc);
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
    async close() {
      for (const nc of raw) if (!nc.isClosed()) await nc.close();
      for (const s of systems) await s.stop();
    },
  };
});
