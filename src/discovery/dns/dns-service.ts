/**
 * `dcos-node dns` as a component: the records, kept by following the leading master's
 * event stream, served by the DNS server. The dev cluster runs one in its process.
 */
import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Metrics } from "../../metrics/metrics.js";
import type { Logger } from "../../runtime/log.js";
import type { ClientCredential } from "../../security/auth/client-credential.js";
import { ClusterFollower } from "../cluster-follower.js";
import { normalizeDomain } from "./names.js";
import { DnsRecords, pidAddress } from "./records.js";
import { DnsServer } from "./server.js";

export interface DnsServiceOptions {
  /** Masters as host:port. */
  masters: readonly string[];
  /** Default `dcos`. */
  domain?: string;
  host: string;
  port: number;
  resolvers?: readonly string[];
  ttl?: number;
  metrics?: Metrics;
  logger: Logger;
  /** The principal DNS calls the masters as. */
  credential?: ClientCredential;
  /** TLS to the masters (the cluster CA, a principal's certificate); default plaintext. */
  channelCredentials?: ChannelCredentials;
}

export interface RunningDns {
  readonly port: number;
  readonly records: DnsRecords;
  readonly server: DnsServer;
  readonly follower: ClusterFollower;
  stop(): Promise<void>;
}

export async function startDnsService(o: DnsServiceOptions): Promise<RunningDns> {
  const domain = normalizeDomain(o.domain ?? "dcos");
  const masters = o.masters.map((m) => pidAddress(m)?.ip).filter((ip): ip is string => ip !== undefined);
  const records = new DnsRecords({ domain, masters, ttl: o.ttl });
  const server = new DnsServer({ host: o.host, port: o.port, records, resolvers: o.resolvers, metrics: o.metrics, logger: o.logger });
  await server.start();
  const follower = new ClusterFollower({ masters: o.masters, logger: o.logger, credential: o.credential, onEvent: (e) => records.apply(e), ...(o.channelCredentials ? { channelCredentials: o.channelCredentials } : {}) });
  follower.start();
  o.metrics?.gauge("dns/tasks", () => records.indexedTasks, "Running tasks with DNS names");
  o.logger.info(`DNS for ${domain}. on ${o.host}:${server.port} (UDP and TCP), following the masters ${o.masters.join(",")}`);
  return {
    port: server.port,
    records,
    server,
    follower,
    stop: async () => {
      follower.stop();
      await server.close();
    },
  };
}
