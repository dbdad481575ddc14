/**
 * Agent health by ping, as Mesos's SlaveObserver: the master pings every agent and waits
 * agent_ping_timeout for the pong; after max_agent_ping_timeouts missed pongs in a row the
 * agent is marked UNREACHABLE in the registry, its offers are rescinded, its resources leave
 * the allocator, and its tasks are reported (TASK_UNREACHABLE to partition-aware frameworks,
 * TASK_LOST to the others). With --agent-unreachable-rate-limit the marking waits for a permit
 * (pings go on meanwhile; a pong cancels it).
 *
 * The ping timeouts of all agents share one clock timer (a TimerQueue: they all wait the same
 * agent_ping_timeout, so they fall due in the order they were set): 50,000 agents cost one
 * armed timer, not 50,000, and each timeout still fires exactly when its own timer would.
 * An agent's next ping counts from when its timer was due, not from when it fired
 * (TimerQueue.addNext): the pings a held loop fired late together go out at their own times
 * again in the next period, instead of staying together for good (at 50,000 agents the pings
 * had merged into clumps every 15 s, no ping at all in 40 of 60 seconds; docs/scale.md,
 * "Session 10"). The time an agent has to answer a late ping is shorter by that lateness, by
 * at most half of agent_ping_timeout (a ping fired later than that counts from its firing).
 */
import { create } from "@bufbuild/protobuf";
import { AgentPingSchema, type AgentPing } from "../../gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import type { Pid } from "../../runtime/pid.js";
import { TimerQueue } from "../../runtime/timer-queue.js";
import { AgentState, type AgentRecord } from "./agent-record.js";
import { reportAgentTasks, withdrawAgent } from "./agent-removal.js";
import type { MasterState } from "./master-state.js";
import { agentRemoved } from "./cluster-events.js";
import { UnreachableRateLimiter } from "./unreachable-rate-limit.js";
import { markAgentUnreachable } from "./agent-changes.js";

/** One limiter per leading master's core; the agents waiting for a permit, with their cancel. */
const limiters = new WeakMap<MasterState, UnreachableRateLimiter>();
const waiting = new WeakMap<AgentRecord, () => void>();
/** One queue of ping timeouts per leading master's core. */
const pingTimeouts = new WeakMap<MasterState, TimerQueue>();

function pingQueue(core: MasterState): TimerQueue {
  let q = pingTimeouts.get(core);
  if (!q) pingTimeouts.set(core, (q = new TimerQueue(core.options.agentPingTimeoutMs, { now: () => core.now(), delay: (ms, fn) => core.host.delay(ms, fn) })));
  return q;
}

export function startPinging(core: MasterState, agent: AgentRecord): void {
  cancelUnreachable(core, agent, "it (re)registered");
  agent.stopTimers();
  agent.missedPings = 0;
  ping(core, agent);
}

/** Pings the agent; its timeout is due one interval after the last one was (previousDue), or after now. */
function ping(core: MasterState, agent: AgentRecord, previousDue?: number): void {
  agent.awaitingPong = true;
  // Every field given: a plain message, no create() walk per ping (thousands after a failover).
  const message: AgentPing = { $typeName: AgentPingSchema.typeName, connected: true, term: BigInt(core.host.term ?? 0) };
  core.sendToAgent(agent, message);
  const queue = pingQueue(core);
  const timeout = (due: number): void => {
    agent.pingTimer = undefined;
    if (agent.state !== AgentState.ACTIVE) return;
    if (agent.awaitingPong) {
      agent.missedPings++;
      core.log.warn({ agent: agent.id, missed: agent.missedPings }, `Agent ${agent.id} missed ping ${agent.missedPings} of ${core.options.maxAgentPingTimeouts}`);
      if (agent.missedPings >= core.options.maxAgentPingTimeouts) {
        if (!core.options.agentUnreachableRate) {
          markUnreachable(core, agent);
          return;
        }
        scheduleUnreachable(core, agent);
      }
    }
    ping(core, agent, due);
  };
  agent.pingTimer = previousDue === undefined ? queue.add(timeout) : queue.addNext(previousDue, timeout);
}

export function pong(core: MasterState, from: Pid): void {
  core.metrics.message("agent_pong");
  const id = core.agentsByPid.get(from.toString());
  const agent = id === undefined ? undefined : core.agents.get(id);
  if (!agent || agent.state !== AgentState.ACTIVE) {
    core.drop("invalid_pongs", `Ignoring a pong from ${from.toString()} because that agent is not registered and active`);
    // Tell it so: an agent that hears connected=false reregisters.
    core.host.send(from, create(AgentPingSchema, { connected: false, term: BigInt(core.host.term ?? 0) }));
    return;
  }
  agent.awaitingPong = false;
  agent.missedPings = 0;
  cancelUnreachable(core, agent, "it answered a ping");
}

function cancelUnreachable(core: MasterState, agent: AgentRecord, why: string): void {
  const cancel = waiting.get(agent);
  if (!cancel) return;
  cancel();
  waiting.delete(agent);
  core.metrics.agentsUnreachableCanceled.inc();
  core.log.info({ agent: agent.id }, `Agent ${agent.id} is no longer to be marked unreachable: ${why}`);
}

/** Queues the agent for a permit of the rate limit (once); marks it when the permit comes. */
function scheduleUnreachable(core: MasterState, agent: AgentRecord): void {
  if (waiting.has(agent)) return;
  let limiter = limiters.get(core);
  if (!limiter) limiters.set(core, (limiter = new UnreachableRateLimiter(core.options.agentUnreachableRate!, { now: () => core.now(), delay: (ms, fn) => core.host.delay(ms, fn) })));
  core.metrics.agentsUnreachableScheduled.inc();
  core.log.warn({ agent: agent.id }, `Agent ${agent.id} missed ${agent.missedPings} pings; waiting for the unreachable rate limit to mark it`);
  waiting.set(
    agent,
    limiter.acquire(() => {
      waiting.delete(agent);
      if (agent.state === AgentState.ACTIVE) markUnreachable(core, agent);
    }),
  );
}

function markUnreachable(core: MasterState, agent: AgentRecord): void {
  const why = `Agent ${agent.id} (${agent.info.hostname}) is unreachable: ${agent.missedPings} pings went unanswered`;
  agent.stopTimers();
  markAgentUnreachable(
    core,
    agent.id,
    core.now(),
    () => {
      if (agent.state !== AgentState.ACTIVE) return;
      withdrawAgent(core, agent, "the agent is unreachable");
      agent.transition(AgentState.UNREACHABLE, core.log, why);
      core.metrics.agentsUnreachableCompleted.inc();
      reportAgentTasks(core, agent, TaskState.UNREACHABLE, why);
      agentRemoved(core, agent, why);
    },
    () => startPinging(core, agent),
  );
}
