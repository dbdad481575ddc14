/**
 * Registration with the master and keeping that connection: (re)registration attempts on
 * MasterLink's backoff (reregistration.ts builds ReregisterAgent), the master's answer,
 * pings (the watchdog is MasterLink's), LeadingMaster announcements, and losing the master.
 */
import { create } from "@bufbuild/protobuf";
import { AgentIDSchema } from "../../gen/dcos/v1/common_pb.js";
import { AgentPongSchema, RegisterAgentSchema } from "../../gen/dcos/v1/internal_pb.js";
import { actsAs, describePeer } from "../../runtime/identity.js";
import type { Pid } from "../../runtime/pid.js";
import { AgentPhase, type AgentContext } from "./agent-context.js";
import { AGENT_VERSION } from "./agent-options.js";
import { writeAgentId } from "./checkpoint.js";
import { reregistration } from "./reregistration.js";
import { beginFrameworkShutdown } from "./shutdown.js";

/** MasterLink's attempt: RegisterAgent (no id yet) or ReregisterAgent to the current master. */
export function attemptRegistration(a: AgentContext): void {
  if (a.phase !== AgentPhase.DISCONNECTED) return;
  // The previous attempt went unanswered: try the next master of the list.
  if (a.masterLink.attempts > 1) a.masters.next();
  a.lastAttemptTo = a.masters.current.toString();
  if (a.agentId === "") a.host.send(a.masters.current, create(RegisterAgentSchema, { agentInfo: a.info, version: AGENT_VERSION }));
  else a.host.send(a.masters.current, reregistration(a.info, a.frameworks.values()));
}

/** AgentRegistered / AgentReregistered. */
export function registered(a: AgentContext, agentId: string, pingIntervalSeconds: number, from: Pid, unknownFrameworks: string[]): void {
  if (a.phase !== AgentPhase.DISCONNECTED) {
    a.drop(`(re)registration as ${agentId}`, `the agent is ${a.phase}`);
    return;
  }
  if (!agentId) {
    a.drop("(re)registration", "it carries no agent id");
    return;
  }
  // Only a leading master registers an agent: one asked by the rotation may answer after the agent moved on.
  if (!a.masters.registeredWith(from)) {
    a.drop(`(re)registration from ${from.toString()}`, "it is not one of the masters");
    return;
  }
  if (a.agentId && a.agentId !== agentId) {
    a.log.warn({ old: a.agentId, new: agentId }, `Master gave agent id ${agentId}, was ${a.agentId}`);
  }
  if (a.agentId !== agentId) {
    const write = a.disk.track(writeAgentId(a.fs, a.opts.workDir, agentId));
    a.host.defer(write, () => undefined, (err) => a.log.error({ err }, `Failed to checkpoint agent id ${agentId}`));
  }
  a.agentId = agentId;
  a.info.id = create(AgentIDSchema, { value: agentId });
  a.transition(AgentPhase.RUNNING);
  a.log.info({ agentId, master: from.toString() }, `Registered with master ${from.toString()} as agent ${agentId}`);
  a.host.link(a.masters.current);
  a.masterLink.registered(pingIntervalSeconds);
  void a.statusUpdates.resume();
  for (const fwId of unknownFrameworks) {
    const fw = a.frameworks.get(fwId);
    if (fw) beginFrameworkShutdown(a, fw, "the master does not know it");
  }
}

/**
 * A ping says its master leads `term`: the agent follows it unless it follows a newer
 * term. A new master (or its own master leading a newer term) means reregistering; a
 * ping while disconnected means the leader is reachable again: reregister now rather
 * than at the next backoff, with whatever master the retries were asking.
 */
export function ping(a: AgentContext, connected: boolean, term: number, from: Pid): void {
  const previous = a.masters.current;
  const outcome = a.masters.pinged(from, term);
  if ("ignore" in outcome) {
    a.drop(`ping from ${from.toString()}`, outcome.ignore);
    return;
  }
  a.host.send(from, create(AgentPongSchema));
  if (a.phase === AgentPhase.DISCONNECTED) {
    a.log.info({ master: from.toString(), term }, `Master ${from.toString()} (term ${term}) pings this disconnected agent; reregistering with it now`);
    a.masterLink.start();
    return;
  }
  if (a.phase !== AgentPhase.RUNNING) return;
  if (outcome.changed) {
    a.log.warn({ master: from.toString(), previous: previous.toString(), term }, `Master ${from.toString()} leads term ${term} (this agent followed ${previous.toString()}); reregistering with it`);
    masterLost(a);
    return;
  }
  if (!connected) {
    a.log.warn("The master does not consider this agent registered; reregistering");
    masterLost(a);
    return;
  }
  a.masterLink.pinged();
}

/**
 * A master says who leads: follow a leader of a term not older than the last one followed (a
 * newer term of the same master is a change). A new leader's announcement may ask its agents
 * to spread their reregistrations over `withinMs`: this agent's first attempt waits a random
 * part of it (its seeded source), so thousands of agents do not reach the leader in one instant.
 */
export function leadingMaster(a: AgentContext, leader: string, term: number, from: Pid, withinMs = 0, retryAfterMs = 0): void {
  const sender = a.host.sender;
  if (!actsAs(sender, "master")) {
    a.refuse(`LeadingMaster (${leader || "none"}) from ${from.toString()}`, `its connection is ${describePeer(sender)}, not a master's`);
    return;
  }
  const outcome = a.masters.announced(from, leader, term);
  if ("ignore" in outcome) {
    a.drop(`LeadingMaster (${leader || "none"}, term ${term}) from ${from.toString()}`, outcome.ignore);
    return;
  }
  if (a.phase === AgentPhase.RUNNING && !outcome.changed) return;
  // An attempt of this registering is already on its way to this leader (same term): one more
  // now would be a copy the leader decodes and handles again (a standby's redirect answering
  // an older attempt, or the leader's announcement after the agent found it). Its retry
  // stands; the leader's own announcement makes it wait the leader's patience first.
  if (a.phase === AgentPhase.DISCONNECTED && !outcome.changed && a.masterLink.attempts > 0 && a.lastAttemptTo === outcome.follow.toString()) {
    if (from.equals(outcome.follow)) a.masterLink.postpone(retryAfterMs);
    return;
  }
  a.log.info({ leader, term, from: from.toString() }, `Master ${leader} leads (term ${term}); (re)registering with it`);
  const wait = withinMs > 0 ? a.random.int(withinMs + 1) : 0;
  // The announcement (or a standby's redirect) may carry the leader's patience: the first retry waits that long more.
  if (a.phase === AgentPhase.RUNNING) masterLost(a, wait, retryAfterMs);
  else if (a.phase === AgentPhase.DISCONNECTED) a.masterLink.start(wait, retryAfterMs);
}

/**
 * The master is gone (pings stopped, the connection broke, another leads): updates wait,
 * registration retries (the first attempt after `firstDelayMs`: a new leader's spread; the
 * first retry `retryAfterMs` later than the backoff: a new leader's patience).
 */
export function masterLost(a: AgentContext, firstDelayMs = 0, retryAfterMs = 0): void {
  a.transition(AgentPhase.DISCONNECTED);
  void a.statusUpdates.pause();
  a.masterLink.start(firstDelayMs, retryAfterMs);
}
