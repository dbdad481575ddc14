/**
 * The far process of the runtime benchmark: `node runtime-peer.js grpc`,
 * `node runtime-peer.js grpc-tls <tls-dir>` (mutual TLS with a node TLS directory) or
 * `node runtime-peer.js nats <url>`. Runs a Sink and an Echo on a node of its own, prints
 * `{"address": ...}` on stdout once ready, and exits when stdin closes.
 */
import { ActorSystem } from "../../src/runtime/system.js";
import type { Transport } from "../../src/runtime/transport.js";
import { GrpcTransport } from "../../src/runtime/transports/grpc.js";
import { NatsTransport } from "../../src/runtime/transports/nats.js";
import { nodeTransportSecurity } from "../../src/security/pki/grpc-credentials.js";
import { loadTls } from "../../src/security/pki/tls-files.js";
import { Echo, Sink } from "./runtime-actors.js";

const [kind, url] = process.argv.slice(2);
let transport: Transport;
if (kind === "grpc") transport = await GrpcTransport.listen();
else if (kind === "grpc-tls" && url) transport = await GrpcTransport.listen({ security: nodeTransportSecurity(await loadTls({ dir: url })) });
else if (kind === "nats" && url) transport = await NatsTransport.connect({ servers: url, address: `bench-peer-${process.pid}` });
else {
  process.stderr.write("usage: runtime-peer.js grpc | grpc-tls <tls-dir> | nats <url>\n");
  process.exit(2);
}
const system = new ActorSystem({ transport });
await system.start();
system.spawn(new Sink());
system.spawn(new Echo());
process.stdout.write(JSON.stringify({ address: system.address }) + "\n");
process.stdin.resume();
process.stdin.on("end", () => {
  void system.stop().then(() => process.exit(0));
});
