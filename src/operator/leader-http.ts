/**
 * Where the leading master's HTTP endpoint is, for a master's /redirect and web UI: this
 * master's own address while it leads; otherwise the HTTP port the leader wrote in its
 * `elected` registry entry (MasterInfo.http_port), on the address of the leader's pid.
 * Undefined while no leader is known, or the leader's entry has not reached this replica.
 */
import type { MasterInfo } from "../gen/dcos/v1/cluster_pb.js";
import type { KnownLeader } from "../actors/master/master.js";

export interface LeaderSources {
  /** The leader as the master knows it (itself while leading). */
  knownLeader: () => KnownLeader | undefined;
  /** This master's pid text, "master@host:port". */
  self: string;
  /** The master of the last `elected` entry applied here. */
  elected: () => MasterInfo | undefined;
  /** This master's HTTP host:port. */
  ownHttp: () => string;
}

export function leaderHttpAddress(s: LeaderSources): () => string | undefined {
  return () => {
    const leader = s.knownLeader();
    if (!leader) return undefined;
    const pid = leader.pid.toString();
    if (pid === s.self) return s.ownHttp();
    const elected = s.elected();
    if (!elected || elected.pid !== pid || !elected.httpPort) return undefined;
    const address = leader.pid.address;
    return `${address.slice(0, address.lastIndexOf(":"))}:${elected.httpPort}`;
  };
}
