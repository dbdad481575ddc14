/**
 * One TCP port for TLS and plaintext gRPC clients at once: the first byte of a connection
 * is 0x16 for a TLS handshake and 'P' for a plaintext HTTP/2 preface, so each connection
 * is handed to the server's TLS or plaintext side (grpc-js connection injectors), and both
 * sides serve the same services. For loopback dev clusters, where tools connect without
 * certificates while nodes still authenticate each other with mutual TLS.
 */
import * as grpc from "@grpc/grpc-js";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { Duplex } from "node:stream";

const TLS_HANDSHAKE = 0x16;

export interface MixedPort {
  port: number;
  close(): void;
}

/**
 * The socket as a stream that first yields the bytes already read from it: TLS and HTTP/2
 * would otherwise read the socket's handle directly and miss them.
 */
function replaying(socket: Socket, first: Buffer): Duplex {
  const stream: Duplex = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, done) => void socket.write(chunk, done),
    final: (done) => {
      socket.end();
      done();
    },
    destroy: (err, done) => {
      socket.destroy(err ?? undefined);
      done(err);
    },
  });
  stream.push(first);
  socket.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("close", () => stream.destroy());
  return stream;
}

export function listenMixed(server: grpc.Server, host: string, port: number, tls: grpc.ServerCredentials): Promise<MixedPort> {
  const secure = server.createConnectionInjector(tls);
  const plain = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return injectingPort(host, port, [secure, plain], (socket) =>
    socket.once("data", (first: Buffer) => (first[0] === TLS_HANDSHAKE ? secure : plain).injectConnection(replaying(socket, first))),
  );
}

/**
 * The server on a port of ours with one kind of credentials: what `bindAsync` does, except
 * that the accepted connections get Nagle's algorithm off (grpc-js leaves its accepted
 * sockets as Node makes them, with Nagle on).
 */
export function listenNoDelay(server: grpc.Server, host: string, port: number, credentials: grpc.ServerCredentials): Promise<MixedPort> {
  const side = server.createConnectionInjector(credentials);
  return injectingPort(host, port, [side], (socket) => side.injectConnection(socket));
}

/** A TCP server whose connections `route` hands to the gRPC server's injectors. */
function injectingPort(host: string, port: number, injectors: readonly { destroy(): void }[], route: (socket: Socket) => void): Promise<MixedPort> {
  const sockets = new Set<Socket>();
  const net: NetServer = createServer((socket) => {
    // Nagle's algorithm off, as grpc-js does for the connections it makes: http2 writes a
    // frame's header and its payload separately, and with Nagle on the payload waited for
    // the peer's delayed ACK (40 ms on Linux) on every quiet stream: each status update to
    // a framework, each message to an agent.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("error", () => socket.destroy());
    route(socket);
  });
  return new Promise((resolve, reject) => {
    net.once("error", reject);
    net.listen(port, host, () => {
      net.off("error", reject);
      resolve({
        port: (net.address() as { port: number }).port,
        close: () => {
          net.close();
          for (const injector of injectors) injector.destroy();
          for (const s of sockets) s.destroy();
        },
      });
    });
  });
}
