/**
 * Maintenance windows (Mesos's maintenance primitives). The operator posts a schedule —
 * windows of machines (hostname and/or IP) with a start and a duration — recorded in the
 * registry. A machine's mode follows from the schedule and the master's clock:
 *
 * - DRAINING while its window is ahead: as Mesos's allocator does in every allocation
 *   cycle, a sweep (each SWEEP_MS while some window is ahead, and at once on a schedule
 *   change or an agent's registration) sends every connected framework that uses an agent
 *   of the machine — tasks, executors or outstanding offers there — an INVERSE OFFER for
 *   that agent, unless one is outstanding or the framework answered less than its
 *   filters.refuse_seconds ago. So a framework that starts using the agent after the
 *   schedule was set hears of the window too, and one that answered is asked again while
 *   it stays. The master keeps the latest answer per agent and framework
 *   (GetMaintenanceStatus). Answers are not binding: the window comes anyway. Offers of
 *   the agent carry the window's unavailability.
 * - DOWN during the window, or from when the operator takes it down (StartMaintenance, as
 *   Mesos's machine/down: only a DRAINING machine of the schedule) until it is brought up:
 *   its agents are removed (their tasks end: TASK_GONE_BY_OPERATOR for partition-aware
 *   frameworks, TASK_LOST for others), told to shut down, and refused if they try to
 *   register.
 * - UP after the window, or when the operator brings it up (StopMaintenance, as Mesos's
 *   machine/up: only a DOWN machine, which then leaves the schedule): agents of the machine
 *   may register again.
 *
 * A timer wakes the master at the next start or end of a window; the schedule, agent
 * (re)registrations and leadership re-evaluate too.
 */
import { create } from "@bufbuild/protobuf";
import { MaintenanceScheduleSchema, type AgentInfo, type MachineID, type MaintenanceSchedule, type Unavailability } from "../../gen/dcos/v1/cluster_pb.js";
import { OfferIDSchema } from "../../gen/dcos/v1/common_pb.js";
import { ShutdownAgentSchema } from "../../gen/dcos/v1/internal_pb.js";
import { InverseOfferSchema, type InverseOffer } from "../../gen/dcos/v1/offers_pb.js";
import { GetMaintenanceStatusResponseSchema, InverseOfferStatus_Status, type GetMaintenanceStatusResponse } from "../../gen/dcos/v1/operator_pb.js";
import type { AcceptInverseOffersRequest, DeclineInverseOffersRequest } from "../../gen/dcos/v1/scheduler_pb.js";
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import type { Timer } from "../../runtime/clock.js";
import { Code, DcosError } from "../../runtime/error.js";
import { Pid } from "../../runtime/pid.js";
import { AgentState, type AgentRecord } from "./agent-record.js";
import { forgetAgentRecord, reportAgentTasks, withdrawAgent } from "./agent-removal.js";
import { agentRemoved } from "./cluster-events.js";
import { ids, type MasterState } from "./master-state.js";
import type { MasterView } from "./master-view.js";
import type { FrameworkRecord } from "./framework-record.js";
import { persist } from "./operator-calls.js";
import { DEFAULT_REFUSE_SECONDS } from "./options.js";
import { validateFilters } from "./validation.js";

const MAX_WINDOWS = 1000;
const MAX_MACHINES = 10_000;
/** How often inverse offers are looked for while a window is ahead (Mesos: each allocation cycle). */
export const SWEEP_MS = 1000;

/** An inverse offer (outstanding) or the answer to one (status set). */
interface Answer {
  readonly offerId: string;
  readonly agentId: string;
  readonly frameworkId: string;
  /** The framework's stream when offered: a new subscription (failover) ends the offer. */
  readonly streamId: string;
  readonly machine: MachineID;
  readonly unavailability: Unavailability;
  status: InverseOfferStatus_Status;
  /** Seconds since the epoch of the answer (or of the inverse offer). */
  timestamp: number;
}

/** The master's in-memory maintenance book: inverse offers outstanding, answers, filters. */
class Book {
  /** Outstanding inverse offers by id. */
  readonly byOffer = new Map<string, Answer>();
  /** Outstanding inverse offers by `agent/framework`. */
  readonly byAgentFramework = new Map<string, Answer>();
  /** The latest answer by `agent/framework` (what GetMaintenanceStatus shows once answered). */
  readonly answered = new Map<string, Answer>();
  /** Until when (master clock, ms) no new inverse offer goes to `agent/framework`. */
  readonly refusedUntil = new Map<string, number>();
  timer: Timer | undefined;
  sweep: Timer | undefined;
}

const books = new WeakMap<MasterView, Book>();

function book(core: MasterView): Book {
  let b = books.get(core);
  if (!b) books.set(core, (b = new Book()));
  return b;
}

function machineKey(m: MachineID): string {
  return `${m.hostname}/${m.ip}`;
}

function agentIp(info: AgentInfo): string | undefined {
  const pid = Pid.tryParse(info.pid);
  return pid?.address.slice(0, pid.address.lastIndexOf(":"));
}

interface Scheduled {
  readonly machine: MachineID;
  readonly unavailability: Unavailability;
}

/** The schedule's machines by hostname and by ip, built once per schedule (the sweep looks up every agent each second). */
const indexes = new WeakMap<MaintenanceSchedule, { byHostname: Map<string, Scheduled>; byIp: Map<string, Scheduled> }>();

function indexOf(schedule: MaintenanceSchedule): { byHostname: Map<string, Scheduled>; byIp: Map<string, Scheduled> } {
  let index = indexes.get(schedule);
  if (!index) {
    index = { byHostname: new Map(), byIp: new Map() };
    for (const w of schedule.windows) {
      for (const m of w.machineIds) {
        const entry = { machine: m, unavailability: w.unavailability! };
        if (m.hostname !== "" && !index.byHostname.has(m.hostname)) index.byHostname.set(m.hostname, entry);
        if (m.ip !== "" && !index.byIp.has(m.ip)) index.byIp.set(m.ip, entry);
      }
    }
    indexes.set(schedule, index);
  }
  return index;
}

/** The window and machine of the schedule that an agent belongs to, if any (by hostname first, then by ip). */
function windowOf(schedule: MaintenanceSchedule, info: AgentInfo): Scheduled | undefined {
  if (schedule.windows.length === 0) return undefined;
  const index = indexOf(schedule);
  const byName = index.byHostname.get(info.hostname);
  if (byName) return byName;
  const ip = agentIp(info);
  return ip === undefined ? undefined : index.byIp.get(ip);
}

type Mode = "UP" | "DRAINING" | "DOWN";

function modeAt(u: Unavailability, nowSeconds: number): Mode {
  if (nowSeconds < u.startSeconds) return "DRAINING";
  return nowSeconds < u.startSeconds + u.durationSeconds ? "DOWN" : "UP";
}

function takenDown(core: MasterView, m: MachineID): boolean {
  return core.registrar.state().downMachines.some((d) => machineKey(d) === machineKey(m));
}

/** A scheduled machine's mode: DOWN while the operator has it down, else by its window and the clock. */
function modeOf(core: MasterView, w: { machine: MachineID; unavailability: Unavailability }): Mode {
  return takenDown(core, w.machine) ? "DOWN" : modeAt(w.unavailability, nowSeconds(core));
}

function nowSeconds(core: MasterView): number {
  return core.now() / 1000;
}

/** Why an agent with this info may not register now (its machine is down), or undefined. */
export function machineDownReason(core: MasterView, info: AgentInfo | undefined): string | undefined {
  if (!info) return undefined;
  const w = windowOf(core.registrar.state().maintenance, info);
  if (!w || modeOf(core, w) !== "DOWN") return undefined;
  if (takenDown(core, w.machine)) return `machine ${info.hostname} is down for maintenance until an operator brings it up`;
  const until = new Date((w.unavailability.startSeconds + w.unavailability.durationSeconds) * 1000).toISOString();
  return `machine ${info.hostname} is down for maintenance until ${until}`;
}

function invalid(message: string): DcosError {
  return new DcosError(Code.INVALID_ARGUMENT, message);
}

function checkSchedule(core: MasterState, schedule: MaintenanceSchedule): void {
  if (schedule.windows.length > MAX_WINDOWS) throw invalid(`UpdateMaintenanceSchedule: at most ${MAX_WINDOWS} windows, not ${schedule.windows.length}`);
  const seen = new Set<string>();
  let machines = 0;
  schedule.windows.forEach((w, i) => {
    const what = `UpdateMaintenanceSchedule: window #${i + 1}`;
    if (w.machineIds.length === 0) throw invalid(`${what} names no machine`);
    const u = w.unavailability;
    if (!u) throw invalid(`${what} has no unavailability (start and duration)`);
    if (!Number.isFinite(u.startSeconds) || u.startSeconds < 0) throw invalid(`${what}: start_seconds must be a time since the epoch, not ${u.startSeconds}`);
    if (!Number.isFinite(u.durationSeconds) || u.durationSeconds <= 0) throw invalid(`${what}: duration_seconds must be > 0, not ${u.durationSeconds}`);
    for (const m of w.machineIds) {
      if (!m.hostname && !m.ip) throw invalid(`${what}: a machine needs a hostname or an ip`);
      if (m.hostname.length > 255 || m.ip.length > 64) throw invalid(`${what}: machine name too long`);
      const key = machineKey(m);
      if (seen.has(key)) throw invalid(`${what}: machine ${m.hostname || m.ip} is in more than one window`);
      seen.add(key);
      if (++machines > MAX_MACHINES) throw invalid(`UpdateMaintenanceSchedule: at most ${MAX_MACHINES} machines`);
    }
  });
  for (const m of core.registrar.state().downMachines) {
    if (!seen.has(machineKey(m))) throw new DcosError(Code.FAILED_PRECONDITION, `UpdateMaintenanceSchedule: machine ${describe(m)} is down; it stays in the schedule until it is brought up (StopMaintenance)`);
  }
}

function describe(m: MachineID): string {
  return m.hostname && m.ip ? `${m.hostname} (${m.ip})` : m.hostname || m.ip;
}

export function maintenanceSchedule(core: MasterView): MaintenanceSchedule {
  return core.registrar.state().maintenance;
}

export function updateMaintenanceSchedule(core: MasterState, schedule: MaintenanceSchedule | undefined): Promise<void> {
  const next = schedule ?? create(MaintenanceScheduleSchema);
  checkSchedule(core, next);
  return persist(core, { kind: "updateMaintenanceSchedule", schedule: next }, () => {
    core.log.info({ windows: next.windows.length }, `Maintenance schedule updated: ${next.windows.length} window(s)`);
    rescindStale(core);
    evaluateMaintenance(core);
  });
}

/** Whether what was offered or answered for this agent still holds: its same window is ahead. */
function stillAhead(core: MasterState, schedule: MaintenanceSchedule, a: Answer): boolean {
  const agent = core.agents.get(a.agentId);
  const w = agent && windowOf(schedule, agent.info);
  return w !== undefined && sameUnavailability(w.unavailability, a.unavailability) && modeOf(core, w) === "DRAINING";
}

function sameUnavailability(x: Unavailability, y: Unavailability): boolean {
  return x.startSeconds === y.startSeconds && x.durationSeconds === y.durationSeconds;
}

/**
 * Inverse offers whose agent is no longer in the same window ahead are rescinded and
 * forgotten, with the answers and filters for it (a moved window is asked about afresh).
 */
function rescindStale(core: MasterState): void {
  const b = book(core);
  const schedule = maintenanceSchedule(core);
  for (const answer of [...b.byOffer.values()]) {
    if (stillAhead(core, schedule, answer)) continue;
    forget(b, answer);
    const framework = core.frameworks.get(answer.frameworkId);
    if (framework) core.emit(framework, { case: "rescindInverseOffer", value: { $typeName: "dcos.v1.Event.RescindInverseOffer", inverseOfferId: create(OfferIDSchema, { value: answer.offerId }) } });
  }
  for (const [key, answer] of [...b.answered]) {
    if (stillAhead(core, schedule, answer)) continue;
    b.answered.delete(key);
    b.refusedUntil.delete(key);
  }
}

function forget(b: Book, answer: Answer): void {
  b.byOffer.delete(answer.offerId);
  b.byAgentFramework.delete(`${answer.agentId}/${answer.frameworkId}`);
}

/** One agent against the schedule: down if its window started, inverse offers if it is ahead. */
export function agentMaintenance(core: MasterState, agent: AgentRecord): void {
  const schedule = maintenanceSchedule(core);
  if (schedule.windows.length === 0) return;
  if (agent.state !== AgentState.ACTIVE && agent.state !== AgentState.UNREACHABLE) return;
  const w = windowOf(schedule, agent.info);
  if (!w) return;
  const mode = modeOf(core, w);
  if (mode === "DOWN") takeDown(core, agent, w.machine);
  else if (mode === "DRAINING" && agent.active) sendInverseOffers(core, agent, w.machine, w.unavailability);
}

/**
 * Every agent against the schedule, the timer for the next start or end of a window, and
 * the inverse-offer sweep while some window is ahead.
 */
export function evaluateMaintenance(core: MasterState): void {
  const schedule = maintenanceSchedule(core);
  const now = nowSeconds(core);
  for (const agent of [...core.agents.values()]) agentMaintenance(core, agent);
  const b = book(core);
  b.timer?.cancel();
  b.timer = undefined;
  let next = Infinity;
  let ahead = false;
  for (const w of schedule.windows) {
    const u = w.unavailability!;
    if (u.startSeconds > now) ahead = true;
    for (const t of [u.startSeconds, u.startSeconds + u.durationSeconds]) if (t > now && t < next) next = t;
  }
  if (ahead && !b.sweep) armSweep(core);
  if (next !== Infinity) {
    b.timer = core.host.delay(Math.max(0, Math.ceil((next - now) * 1000)), () => {
      book(core).timer = undefined;
      rescindStale(core);
      evaluateMaintenance(core);
      core.changed(); // machines' modes follow the clock: /state must be rebuilt
    });
  }
}

/**
 * The periodic sweep (Mesos sends inverse offers in every allocation cycle): outstanding
 * inverse offers of frameworks that disconnected or subscribed anew are dropped (they are
 * offered again on the framework's current stream), and every agent ahead of its window is looked at. It stops when
 * no window is ahead any more.
 */
function armSweep(core: MasterState): void {
  const b = book(core);
  b.sweep = core.host.delay(SWEEP_MS, () => {
    b.sweep = undefined;
    for (const answer of [...b.byOffer.values()]) {
      const f = core.frameworks.get(answer.frameworkId);
      if (!f?.connected || f.streamId !== answer.streamId) forget(b, answer);
    }
    const now = nowSeconds(core);
    if (!maintenanceSchedule(core).windows.some((w) => w.unavailability!.startSeconds > now)) return;
    for (const agent of core.agents.values()) agentMaintenance(core, agent);
    armSweep(core);
  });
}

/** The window ahead of the agent's machine, if any: what its offers carry as unavailability. */
export function unavailabilityOf(core: MasterState, agent: AgentRecord): Unavailability | undefined {
  const schedule = maintenanceSchedule(core);
  if (schedule.windows.length === 0) return undefined;
  const w = windowOf(schedule, agent.info);
  return w && modeOf(core, w) === "DRAINING" ? w.unavailability : undefined;
}

/** The frameworks using the agent: tasks, executors or outstanding offers on it. */
function frameworksOn(core: MasterState, agent: AgentRecord): FrameworkRecord[] {
  const idsOn = new Set<string>(agent.executors.keys());
  for (const task of agent.tasks.values()) idsOn.add(task.frameworkId?.value ?? "");
  for (const offerId of core.offers.onAgent(agent.id)) idsOn.add(core.offers.get(offerId)?.frameworkId?.value ?? "");
  return [...idsOn].map((id) => core.frameworks.get(id)).filter((f): f is FrameworkRecord => f !== undefined);
}

function sendInverseOffers(core: MasterState, agent: AgentRecord, machine: MachineID, unavailability: Unavailability): void {
  const b = book(core);
  const nowMs = core.now();
  for (const framework of frameworksOn(core, agent)) {
    const key = `${agent.id}/${framework.id}`;
    if (b.byAgentFramework.has(key) || !framework.connected) continue;
    const until = b.refusedUntil.get(key);
    if (until !== undefined) {
      if (nowMs < until) continue;
      b.refusedUntil.delete(key);
    }
    const offerId = core.newOfferId();
    const answer: Answer = { offerId, agentId: agent.id, frameworkId: framework.id, streamId: framework.streamId, machine, unavailability, status: InverseOfferStatus_Status.UNSPECIFIED, timestamp: nowSeconds(core) };
    b.byOffer.set(offerId, answer);
    b.byAgentFramework.set(key, answer);
    const inverseOffer: InverseOffer = create(InverseOfferSchema, { id: create(OfferIDSchema, { value: offerId }), frameworkId: ids.framework(framework.id), agentId: ids.agent(agent.id), machineId: machine, unavailability });
    core.log.info({ agent: agent.id, framework: framework.id, offer: offerId }, `Inverse offer ${offerId} to framework ${framework.id}: agent ${agent.id} (${agent.info.hostname}) goes down for maintenance at ${new Date(unavailability.startSeconds * 1000).toISOString()}`);
    core.emit(framework, { case: "inverseOffers", value: { $typeName: "dcos.v1.Event.InverseOffers", inverseOffers: [inverseOffer] } });
  }
}

/** The machine's window started: its agent leaves the cluster until the window ends. */
function takeDown(core: MasterState, agent: AgentRecord, machine: MachineID): void {
  const why = `machine ${machine.hostname || machine.ip} is down for maintenance`;
  const b = book(core);
  for (const answer of [...b.byOffer.values()]) if (answer.agentId === agent.id) forget(b, answer);
  for (const key of [...b.answered.keys()]) {
    if (!key.startsWith(`${agent.id}/`)) continue;
    b.answered.delete(key);
    b.refusedUntil.delete(key);
  }
  core.persist(
    { kind: "removeAgent", agentId: agent.id },
    () => {
      if (agent.state === AgentState.REMOVED || core.agents.get(agent.id) !== agent) return;
      withdrawAgent(core, agent, why);
      agent.transition(AgentState.REMOVED, core.log, why);
      reportAgentTasks(core, agent, TaskState.GONE_BY_OPERATOR, `Agent ${agent.id} (${agent.info.hostname}) was removed: ${why}`);
      core.host.send(agent.pid, create(ShutdownAgentSchema, { message: why }));
      forgetAgentRecord(core, agent);
      agentRemoved(core, agent, why);
      core.metrics.agentRemovals.inc();
      core.changed();
    },
    (err) => core.log.warn({ err, agent: agent.id }, `Could not remove agent ${agent.id} of a machine down for maintenance`),
  );
}

/**
 * A framework answers inverse offers: each ends (it is no longer outstanding), its answer is
 * kept for GetMaintenanceStatus, and no new inverse offer for that agent goes to the
 * framework for filters.refuse_seconds (default 5 s), after which — if it still uses the
 * agent — it is asked again.
 */
function answer(core: MasterState, f: FrameworkRecord, request: AcceptInverseOffersRequest | DeclineInverseOffersRequest, status: InverseOfferStatus_Status, call: string): void {
  const ids_ = request.inverseOfferIds;
  if (ids_.length === 0) throw invalid(`${call}: inverse_offer_ids is empty`);
  validateFilters(request.filters);
  const refuseMs = (request.filters?.refuseSeconds ?? DEFAULT_REFUSE_SECONDS) * 1000;
  const b = book(core);
  const unknown: string[] = [];
  for (const id of ids_) {
    const a = b.byOffer.get(id.value);
    if (!a || a.frameworkId !== f.id) {
      unknown.push(id.value);
      continue;
    }
    forget(b, a);
    a.status = status;
    a.timestamp = nowSeconds(core);
    const key = `${a.agentId}/${a.frameworkId}`;
    b.answered.set(key, a);
    b.refusedUntil.set(key, core.now() + refuseMs);
    core.log.info({ framework: f.id, agent: a.agentId, offer: a.offerId }, `Framework ${f.id} ${status === InverseOfferStatus_Status.ACCEPT ? "accepted" : "declined"} the maintenance of agent ${a.agentId}`);
  }
  core.changed();
  if (unknown.length > 0) throw new DcosError(Code.NOT_FOUND, `${call}: ${unknown.join(", ")} ${unknown.length === 1 ? "is not an" : "are not"} outstanding inverse offer(s) of framework ${f.id}`);
}

export function acceptInverseOffers(core: MasterState, f: FrameworkRecord, request: AcceptInverseOffersRequest): void {
  core.metrics.message("accept_inverse_offers");
  answer(core, f, request, InverseOfferStatus_Status.ACCEPT, "ACCEPT_INVERSE_OFFERS");
}

export function declineInverseOffers(core: MasterState, f: FrameworkRecord, request: DeclineInverseOffersRequest): void {
  core.metrics.message("decline_inverse_offers");
  answer(core, f, request, InverseOfferStatus_Status.DECLINE, "DECLINE_INVERSE_OFFERS");
}

/** Machines with maintenance ahead (with the answers so far) and machines down now. */
export function maintenanceStatus(core: MasterView): GetMaintenanceStatusResponse {
  const now = nowSeconds(core);
  const b = book(core);
  // Per agent and framework: the latest answer, else the outstanding (unanswered) inverse offer.
  const latest = new Map(b.byAgentFramework);
  for (const [key, a] of b.answered) latest.set(key, a);
  const answers = [...latest.values()];
  const draining = [];
  const down: MachineID[] = [];
  for (const w of maintenanceSchedule(core).windows) {
    for (const m of w.machineIds) {
      const mode = modeOf(core, { machine: m, unavailability: w.unavailability! });
      if (mode === "DOWN") down.push(m);
      if (mode !== "DRAINING") continue;
      const statuses = answers
        .filter((a) => machineKey(a.machine) === machineKey(m))
        .map((a) => ({ status: a.status, frameworkId: ids.framework(a.frameworkId), agentId: ids.agent(a.agentId), timestamp: a.timestamp }));
      draining.push({ id: m, unavailability: w.unavailability, statuses });
    }
  }
  return create(GetMaintenanceStatusResponseSchema, { drainingMachines: draining, downMachines: down });
}

/**
 * The schedule's machines that the operator names: by hostname and/or ip (a name given
 * matches either), each must match at least one machine of the schedule.
 */
function scheduled(core: MasterState, machines: readonly MachineID[], call: string): { machine: MachineID; unavailability: Unavailability }[] {
  if (machines.length === 0) throw invalid(`${call}: machines is empty`);
  if (machines.length > MAX_MACHINES) throw invalid(`${call}: at most ${MAX_MACHINES} machines`);
  const found = new Map<string, { machine: MachineID; unavailability: Unavailability }>();
  for (const asked of machines) {
    if (!asked.hostname && !asked.ip) throw invalid(`${call}: a machine needs a hostname or an ip`);
    let any = false;
    for (const w of maintenanceSchedule(core).windows) {
      for (const m of w.machineIds) {
        const hit = (asked.hostname !== "" && (asked.hostname === m.hostname || asked.hostname === m.ip)) || (asked.ip !== "" && asked.ip === m.ip);
        if (!hit) continue;
        any = true;
        found.set(machineKey(m), { machine: m, unavailability: w.unavailability! });
      }
    }
    if (!any) throw invalid(`${call}: machine ${describe(asked)} is not in the maintenance schedule`);
  }
  return [...found.values()];
}

/** Operator (Mesos's START_MAINTENANCE, machine/down): DRAINING machines go DOWN now, until brought up. */
export function startMaintenance(core: MasterState, machines: readonly MachineID[]): Promise<void> {
  const found = scheduled(core, machines, "StartMaintenance");
  for (const w of found) {
    const mode = modeOf(core, w);
    if (mode !== "DRAINING") throw new DcosError(Code.FAILED_PRECONDITION, `StartMaintenance: machine ${describe(w.machine)} is ${mode}, not DRAINING: only a machine whose window is ahead can be taken down`);
  }
  return persist(core, { kind: "startMaintenance", machines: found.map((w) => w.machine) }, () => {
    core.log.info({ machines: found.map((w) => machineKey(w.machine)) }, `Machines taken down for maintenance: ${found.map((w) => describe(w.machine)).join(", ")}`);
    rescindStale(core);
    evaluateMaintenance(core);
  });
}

/** Operator (Mesos's STOP_MAINTENANCE, machine/up): DOWN machines come UP and leave the schedule. */
export function stopMaintenance(core: MasterState, machines: readonly MachineID[]): Promise<void> {
  const found = scheduled(core, machines, "StopMaintenance");
  for (const w of found) {
    const mode = modeOf(core, w);
    if (mode !== "DOWN") throw new DcosError(Code.FAILED_PRECONDITION, `StopMaintenance: machine ${describe(w.machine)} is ${mode}, not DOWN: only a machine that is down can be brought up`);
  }
  return persist(core, { kind: "stopMaintenance", machines: found.map((w) => w.machine) }, () => {
    core.log.info({ machines: found.map((w) => machineKey(w.machine)) }, `Machines up after maintenance: ${found.map((w) => describe(w.machine)).join(", ")}`);
    rescindStale(core);
    evaluateMaintenance(core);
  });
}
