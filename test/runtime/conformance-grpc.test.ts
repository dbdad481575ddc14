import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { GrpcTransport } from "../../src/runtime/transports/grpc.js";
import { RawGrpcPeer } from "../support/raw-grpc-peer.js";
import { waitFor } from "../support/wait.js";
import { transportConformance, type RawPeer } from "./transport-conformance.js";

transportConformance("gRPC", { envelopes: true, frames: true }, async () => {
  const systems: ActorSystem[] = [];
  const peers: RawPeer[] = [];
  return {
    name: "gRPC",
    async node(options = {}) {
      const transport = await GrpcTransport.listen({
        port: options.address ? Number(options.address.split(":")[1]) : 0,
        ...(options.maxFrameBytes ? { maxFrameBytes: options.maxFrameBytes } : {}),
        backoff: { initialMs: 20, maxMs: 200 },
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
      const peer = await RawGrpcPeer.connect(to.address);
      peers.push(peer);
      return peer;
    },
    async close() {
      for (const p of peers) await p.close();
      for (const s of systems) await s.stop();
    },
  };
});
