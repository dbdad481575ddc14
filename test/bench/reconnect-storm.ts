/**
 * The runtime benchmark's reconnect storm: `agents` simulated agents open their actor
 * transport stream to one node at once (as after a master failover), `concurrency` at a
 * time, each on its own TCP (and TLS) connection: Hello, wait for the node's answer, close.
 * What it costs is the connection setup, which mutual TLS makes a handshake with two
 * certificate verifications, unless the agent resumes its TLS session (tls-resumption.ts).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ConnectRequestSchema, HelloSchema, TransportService } from "../../src/gen/dcos/v1/runtime_pb.js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";

const RawClient = clientConstructor(TransportService, { raw: { connect: "both" } });

/** One agent's reconnection: resolves once the node answered its Hello. */
function reconnect(target: string, address: string, credentials: grpc.ChannelCredentials): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new RawClient(target, credentials, { "grpc.use_local_subchannel_pool": 1 });
    const call = (client as unknown as { connect(): grpc.ClientDuplexStream<Buffer, Buffer> }).connect();
    const done = (err?: Error) => {
      call.removeAllListeners();
      call.on("error", () => undefined);
      call.cancel();
      client.close();
      if (err) reject(err);
      else resolve();
    };
    call.once("data", () => done());
    call.once("error", (e: Error) => done(e));
    const hello = create(HelloSchema, { address, incarnation: "storm" });
    call.write(Buffer.from(toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { kind: { case: "hello", value: hello } }))));
  });
}

/** Runs the storm (agent i connects with `credentials(i)`); resolves with its wall time in ms. */
export async function reconnectStorm(target: string, agents: number, concurrency: number, credentials: (agent: number) => grpc.ChannelCredentials): Promise<number> {
  const start = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < agents) {
      const i = next++;
      await reconnect(target, `127.0.0.1:${20_000 + (i % 40_000)}`, credentials(i));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return performance.now() - start;
}
