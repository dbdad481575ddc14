/**
 * The master's flags and their defaults (Mesos defaults where Mesos has one; see
 * /work/shared/REFERENCE.md "Defaults operators know").
 */
import type { Random } from "../../runtime/random.js";
import { loopLagMs } from "../../runtime/loop-lag.js";
import { parseUnreachableRate, type UnreachableRate } from "./unreachable-rate-limit.js";

export interface MasterOptions {
  /** Names this master in ids it hands out (framework, offer ids). Default "master". */
  masterId?: string;
  hostname?: string;
  port?: number;
  /** The operators' HTTP port, told in MasterInfo.http_port (standbys redirect there). */
  httpPort?: number;
  version?: string;
  /** Time the master waits for an AgentPong (Mesos agent_ping_timeout). Default 15 s. */
  agentPingTimeoutMs?: number;
  /** Missed pings in a row before the agent is unreachable (max_agent_ping_timeouts). Default 5. */
  maxAgentPingTimeouts?: number;
  /** An outstanding offer is rescinded after this long; 0 = never (Mesos default). Default 0. */
  offerTimeoutMs?: number;
  /** HEARTBEAT period on every scheduler stream. Default 15 s. */
  heartbeatIntervalMs?: number;
  /**
   * A framework holding this many outstanding offers gets no more until it has answered half
   * of them (accepted, declined; rescinded ones count too); 0: no limit (the default, as in
   * Mesos). Not a Mesos flag: a scheduler that subscribes to a large cluster is otherwise
   * offered agent after agent before it has read its first offers.
   */
  maxOffersPerFramework?: number;
  /** After a master failover, agents of the registry that did not reregister within this are marked unreachable (Mesos agent_reregister_timeout). Default 10 min. */
  agentReregisterTimeoutMs?: number;
  /** At most this many agents marked unreachable per duration, e.g. "1/10mins" (Mesos agent_removal_rate_limit). Default: no limit. */
  agentUnreachableRateLimit?: string;
  /**
   * A newly elected master announces itself to the registry's agents in waves
   * (reregistration-pacing.ts): at most this many announced and not back yet at once, none
   * while its event loop runs late. Default 1,000; 0: no window.
   */
  agentReregistrationWindow?: number;
  /** The most agents per second that announcement goes to (a cap on the waves). Default 0: no cap. */
  agentReregistrationRate?: number;
  /**
   * Once the master's mailbox holds this many items, agents' status updates are dropped
   * before they are decoded and counted (`runtime/dropped/mailbox_shed`): an agent sends an
   * unacknowledged update again after its retry interval. Registrations, pongs,
   * acknowledgements, scheduler calls and Raft are never dropped for it. Default 0:
   * never (a shed update reaches the framework only after the agent's retry interval: in a
   * run at 50,000 agents shedding at 10,000 put accept -> RUNNING p99 at 17 s; docs/scale.md).
   */
  maxQueuedRetriedMessages?: number;
  /** How late the event loop runs now (ms); tests script it. Default: the process's (runtime/loop-lag.ts). */
  loopLag?: () => number;
  /** Seeds stream ids; tests pass a seeded one. */
  random?: Random;
}

export interface ResolvedMasterOptions {
  masterId: string;
  hostname: string;
  port: number;
  httpPort: number;
  version: string;
  agentPingTimeoutMs: number;
  maxAgentPingTimeouts: number;
  offerTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxOffersPerFramework: number;
  agentReregisterTimeoutMs: number;
  agentUnreachableRate: UnreachableRate | undefined;
  agentReregistrationWindow: number;
  agentReregistrationRate: number;
  loopLag: () => number;
}

export const DEFAULT_REFUSE_SECONDS = 5;

export function resolveMasterOptions(o: MasterOptions): ResolvedMasterOptions {
  return {
    masterId: o.masterId ?? "master",
    hostname: o.hostname ?? "localhost",
    port: o.port ?? 0,
    httpPort: o.httpPort ?? 0,
    version: o.version ?? "0.1.0",
    agentPingTimeoutMs: o.agentPingTimeoutMs ?? 15_000,
    maxAgentPingTimeouts: o.maxAgentPingTimeouts ?? 5,
    offerTimeoutMs: o.offerTimeoutMs ?? 0,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? 15_000,
    maxOffersPerFramework: o.maxOffersPerFramework ?? 0,
    agentReregisterTimeoutMs: o.agentReregisterTimeoutMs ?? 600_000,
    agentUnreachableRate: o.agentUnreachableRateLimit === undefined ? undefined : parseUnreachableRate(o.agentUnreachableRateLimit),
    agentReregistrationWindow: o.agentReregistrationWindow ?? 1_000,
    agentReregistrationRate: o.agentReregistrationRate ?? 0,
    loopLag: o.loopLag ?? loopLagMs,
  };
}
