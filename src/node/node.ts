/**
 * A dcos-node process's plumbing, shared by every role: one actor system on one gRPC
 * transport (so actors on other nodes reach it), the same gRPC server hosting the role's
 * public services (Scheduler, Executor, Operator) and one reflection service listing them,
 * one metrics registry, and an orderly stop.
 */
import type * as grpc from "@grpc/grpc-js";
import type { DescFile } from "@bufbuild/protobuf";
import { file_dcos_v1_internal } from "../gen/dcos/v1/internal_pb.js";
import { file_dcos_v1_raft } from "../gen/dcos/v1/raft_pb.js";
import { file_dcos_v1_runtime } from "../gen/dcos/v1/runtime_pb.js";
import { addReflectionService } from "../runtime/grpc/reflection.js";
import { SystemClock, type Clock } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { ActorSystem } from "../runtime/system.js";
import { TypeRegistry } from "../runtime/types.js";
import { GrpcTransport } from "../runtime/transports/grpc.js";
import { Metrics } from "../metrics/metrics.js";
import { watchEventLoopDelay } from "../runtime/event-loop-delay.js";
import { watchProcessHealth } from "../runtime/process-health.js";
import { watchLoopStalls } from "../runtime/loop-stalls.js";
import { authenticatedPeer } from "../runtime/identity.js";
import { RevocationWatcher } from "../security/pki/revocation.js";
import { nodeTransportSecurity } from "../security/pki/grpc-credentials.js";
import { certificateIdentity, type TlsMaterial } from "../security/pki/tls-files.js";

export interface NodeOptions {
  /** Interface to listen on and the host part of this node's address (default 127.0.0.1). */
  ip?: string;
  /** gRPC port; 0 picks a free one. */
  port: number;
  logger: Logger;
  clock?: Clock;
  /**
   * Mutual TLS with this node's certificate: the port is TLS-only, peers on the actor
   * transport must present a master or agent certificate of the same cluster naming the
   * address they claim, and the node's actors are known by its certificate's identity.
   * Without it the port is plaintext and every peer is unauthenticated (--insecure).
   */
  tls?: TlsMaterial;
  /** With tls: also serve clients without TLS on the port (a loopback dev cluster's tools). */
  plaintextClients?: boolean;
}

export interface Node {
  readonly system: ActorSystem;
  readonly transport: GrpcTransport;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly logger: Logger;
  /** host:port of the gRPC server (actors, and the role's services). */
  readonly address: string;
  /** The TLS material the node runs with (undefined: plaintext). */
  readonly tls: TlsMaterial | undefined;
  /** The revoked certificates (`--tls-crl`, checked again while the node runs); absent without one. */
  readonly revocations: RevocationWatcher | undefined;
  /**
   * Hosts the role's public gRPC services on the node's server, with one reflection service
   * listing them (and the transport's) from their .proto files. Call once.
   */
  serve(files: readonly DescFile[], add: (server: grpc.Server) => void): void;
  /** Runs fn at stop, before the transport closes (last registered runs first). */
  onStop(fn: () => Promise<void> | void): void;
  stop(): Promise<void>;
}

export async function startNode(options: NodeOptions): Promise<Node> {
  const clock = options.clock ?? new SystemClock();
  const metrics = new Metrics();
  watchEventLoopDelay(metrics);
  watchProcessHealth(metrics);
  watchLoopStalls(metrics, options.logger);
  const tls = options.tls;
  const own = tls ? certificateIdentity(tls.cert) : undefined;
  const revocations = tls?.crlFile
    ? await RevocationWatcher.start(tls.crlFile, tls.ca, (err) => options.logger.warn({ err }, `Keeping the previous certificate revocation list: ${err.message}`))
    : undefined;
  if (revocations) options.logger.info(`Refusing the ${revocations.list.size} certificate(s) revoked in ${revocations.file}`);
  const transport = await GrpcTransport.listen({
    host: options.ip ?? "127.0.0.1",
    port: options.port,
    clock,
    logger: options.logger,
    ...(tls ? { security: nodeTransportSecurity(tls, options.plaintextClients ?? false, revocations) } : {}),
  });
  metrics.gauge("runtime/transport_queued_kb", () => Math.round(transport.queuedBytes().total / 1024), "Bytes queued for other nodes, not yet written to their streams (KiB)");
  metrics.gauge("runtime/transport_queued_max_peer_kb", () => Math.round(transport.queuedBytes().max / 1024), "Bytes queued for the node with most (KiB)");
  // Every message nodes exchange as actors: master <-> agent, and raft between masters.
  const types = new TypeRegistry().addFile(file_dcos_v1_internal).addFile(file_dcos_v1_raft);
  const identity = own ? authenticatedPeer(own.name, own.role) : undefined;
  const system = new ActorSystem({ transport, clock, logger: options.logger, metrics, types, ...(identity ? { identity } : {}) });
  if (own) options.logger.info(`Mutual TLS on ${transport.address} as ${own.role} '${own.name}' of cluster '${own.cluster}'`);
  await system.start();
  const stoppers: (() => Promise<void> | void)[] = [];
  let stopping: Promise<void> | undefined;
  return {
    system,
    transport,
    metrics,
    clock,
    logger: options.logger,
    address: transport.address,
    tls,
    revocations,
    serve: (files, add) => {
      add(transport.grpcServer);
      addReflectionService(transport.grpcServer, [file_dcos_v1_runtime, ...files]);
    },
    onStop: (fn) => void stoppers.push(fn),
    stop: () =>
      (stopping ??= (async () => {
        for (const fn of stoppers.reverse()) {
          try {
            await fn();
          } catch (err) {
            options.logger.warn({ err }, "Error while stopping");
          }
        }
        revocations?.stop();
        await system.stop();
      })()),
  };
}
