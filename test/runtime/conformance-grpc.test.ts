import { testLogger } from "../../src/runtime/log.js";
import { GrpcTransport } from "../../src/runtime/transports/grpc.js";
import { RawGrpcPeer } from "../support/raw-grpc-peer.js";
import { RealTimeNodes, transportConformance } from "./transport-conformance.js";

transportConformance("gRPC", { envelopes: true, frames: true }, async () => {
  const nodes = new RealTimeNodes();
  return {
    name: "gRPC",
    until: nodes.until,
    close: nodes.close,
    async node(options = {}) {
      const transport = await GrpcTransport.listen({
        port: options.address ? Number(options.address.split(":")[1]) : 0,
        ...(options.maxFrameBytes ? { maxFrameBytes: options.maxFrameBytes } : {}),
        backoff: { initialMs: 20, maxMs: 200 },
        logger: testLogger(),
      });
      return nodes.start(transport);
    },
    async rawPeer(to) {
      const peer = await RawGrpcPeer.connect(to.address);
      nodes.onClose(() => peer.close());
      return peer;
    },
  };
});
