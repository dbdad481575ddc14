/**
 * The names DNS answers, kept from the master's event stream (Operator Subscribe): the
 * SUBSCRIBED snapshot sets them, then each task, agent, framework and leader event
 * changes them at once. Pure: no sockets, no timers; `now` comes with each call that
 * needs it.
 *
 * Names under the domain (Mesos-DNS's, with `dcos` for `mesos`):
 * - `<task>.<framework>.<domain>` A: the agents of the framework's RUNNING tasks of that name
 * - `_<task>._tcp.<framework>.<domain>` SRV: one per port of each such task, its target
 *   `<task>-<tag>.<framework>.slave.<domain>` (A: that task's agent), sent as additionals
 * - `<app-id-reversed>.services.<domain>` A: the agents of a services app's RUNNING tasks
 * - `leader.<domain>` A (and `_leader._tcp.<domain>` SRV), `master.<domain>` A (every
 *   master), `agent.<domain>` and `slave.<domain>` A (every active agent)
 *
 * After a reconnection (a master failover), tasks the old snapshot had on agents the new
 * leader has not heard from yet are kept until their agent reregisters (its tasks come
 * back as TASK_ADDED first) or is removed, so names do not vanish while agents catch up.
 */
import { AgentEntry_Status, type AgentEntry, type ClusterEvent, type GetStateResponse } from "../../gen/dcos/v1/operator_pb.js";
import { TaskState, type Task, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import type { MasterInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { appIdOfTask, normalizeQueryName, reversedAppName, sanitizeLabel, shortHash } from "./names.js";

export interface ARecord {
  type: "A";
  name: string;
  ttl: number;
  data: string;
}

export interface SrvRecord {
  type: "SRV";
  name: string;
  ttl: number;
  data: { priority: number; weight: number; port: number; target: string };
}

export type DnsRecord = ARecord | SrvRecord;

export type Lookup =
  | { rcode: "NOERROR"; answers: DnsRecord[]; additionals: DnsRecord[] }
  | { rcode: "NXDOMAIN" }
  /** Not a name of our domain: the server refuses it or forwards it. */
  | { rcode: "OUTSIDE" };

export interface DnsRecordsOptions {
  /** The domain served (normalized: lowercase, no trailing dot), default `dcos`. */
  domain: string;
  /** Addresses of every master (`master.<domain>`), as configured. */
  masters?: readonly string[];
  /** TTL of every answer, seconds (default 5: names follow events, so keep caches short). */
  ttl?: number;
  /** Frameworks whose task ids are read as Marathon task ids for app names (default services, marathon). */
  servicesFrameworks?: readonly string[];
}

interface TaskEntry {
  id: string;
  name: string;
  frameworkId: string;
  agentId: string;
  state: TaskState;
  ports: number[];
  labels: Map<string, string>;
  /** Kept from an earlier snapshot until its agent reregisters (see above). */
  stale: boolean;
  /** Names it is indexed under now. */
  aNames: string[];
  srvNames: string[];
  target: string;
}

interface AgentAddress {
  ip: string;
  active: boolean;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** The host of a pid `name@host:port` when it is an IPv4 address. */
export function pidAddress(pid: string): { ip: string; port: number } | undefined {
  const at = pid.lastIndexOf("@");
  const hostPort = at === -1 ? pid : pid.slice(at + 1);
  const colon = hostPort.lastIndexOf(":");
  const host = colon === -1 ? hostPort : hostPort.slice(0, colon);
  if (!IPV4.test(host)) return undefined;
  return { ip: host, port: colon === -1 ? 0 : Number(hostPort.slice(colon + 1)) };
}

function taskPorts(task: Task): number[] {
  const ports: number[] = [];
  for (const r of task.resources) {
    if (r.name !== "ports") continue;
    for (const range of r.ranges?.range ?? []) {
      for (let p = range.begin; p <= range.end && ports.length < 1024; p++) ports.push(p);
    }
  }
  return ports;
}

function labelMap(task: Task): Map<string, string> {
  return new Map((task.labels?.labels ?? []).map((l) => [l.key, l.value]));
}

export class DnsRecords {
  readonly domain: string;
  private readonly ttl: number;
  private readonly servicesFrameworks: Set<string>;
  private readonly masters: string[];
  private readonly tasks = new Map<string, TaskEntry>();
  private readonly agents = new Map<string, AgentAddress>();
  private readonly frameworks = new Map<string, string>();
  private readonly aIndex = new Map<string, Set<TaskEntry>>();
  private readonly srvIndex = new Map<string, Set<TaskEntry>>();
  private leader: { ip: string; port: number } | undefined;
  /** Bumped on every change of what is answered. */
  version = 0;

  constructor(options: DnsRecordsOptions) {
    this.domain = options.domain;
    this.ttl = options.ttl ?? 5;
    this.servicesFrameworks = new Set(options.servicesFrameworks ?? ["services", "marathon"]);
    this.masters = [...new Set(options.masters ?? [])];
  }

  /** Tasks answered for now (RUNNING, with a known agent and framework name). */
  get indexedTasks(): number {
    let n = 0;
    for (const t of this.tasks.values()) if (t.aNames.length > 0) n++;
    return n;
  }

  get leaderAddress(): string | undefined {
    return this.leader?.ip;
  }

  /** Applies one event of the Operator Subscribe stream. */
  apply(event: ClusterEvent): void {
    const k = event.kind;
    switch (k.case) {
      case "subscribed":
        if (k.value.getState) this.reset(k.value.getState);
        break;
      case "taskAdded":
        if (k.value.task) this.putTask(k.value.task);
        break;
      case "taskUpdated":
        this.updateTask(k.value.status, k.value.state);
        break;
      case "statusUpdate":
        // The master's TASK_UPDATED follows with the state it settled on; nothing to do here.
        break;
      case "agentAdded":
        if (k.value.agent) this.putAgent(k.value.agent, true);
        break;
      case "agentRemoved":
        this.removeAgent(k.value.agentId?.value ?? "");
        break;
      case "frameworkAdded":
      case "frameworkUpdated": {
        const info = k.value.framework?.frameworkInfo;
        if (info?.id?.value) this.putFramework(info.id.value, info.name);
        break;
      }
      case "leaderChanged":
        this.setLeader(k.value.leader);
        break;
      default:
        break;
    }
  }

  /** A new snapshot: replaces everything but stale tasks of agents not (yet) in it. */
  reset(state: GetStateResponse): void {
    const agentsNow = new Set((state.getAgents?.agents ?? []).map((a) => a.agentInfo?.id?.value ?? ""));
    const keep: TaskEntry[] = [];
    for (const t of this.tasks.values()) {
      if (t.state === TaskState.RUNNING && !agentsNow.has(t.agentId) && this.agents.has(t.agentId)) keep.push(t);
    }
    const keptAgents = new Map(keep.map((t) => [t.agentId, this.agents.get(t.agentId)!]));
    const keptFrameworks = new Map(keep.map((t) => [t.frameworkId, this.frameworks.get(t.frameworkId) ?? ""]));
    this.tasks.clear();
    this.agents.clear();
    this.frameworks.clear();
    this.aIndex.clear();
    this.srvIndex.clear();
    for (const [id, a] of keptAgents) this.agents.set(id, { ip: a.ip, active: false });
    for (const [id, name] of keptFrameworks) if (name) this.frameworks.set(id, name);
    for (const f of state.getFrameworks?.frameworks ?? []) {
      const info = f.frameworkInfo;
      if (info?.id?.value) this.frameworks.set(info.id.value, info.name);
    }
    for (const a of state.getAgents?.agents ?? []) this.putAgent(a, false);
    this.setLeader(state.masterInfo);
    for (const t of keep) {
      t.stale = true;
      t.aNames = [];
      t.srvNames = [];
      this.tasks.set(t.id, t);
      this.index(t);
    }
    const g = state.getTasks;
    for (const task of [...(g?.tasks ?? []), ...(g?.unreachableTasks ?? [])]) this.putTask(task);
    this.version++;
  }

  /** The answer to a question. */
  lookup(qname: string, qtype: string): Lookup {
    const name = normalizeQueryName(qname);
    const d = this.domain;
    if (name !== d && !name.endsWith("." + d)) return { rcode: "OUTSIDE" };
    const wantA = qtype === "A" || qtype === "ANY";
    const wantSrv = qtype === "SRV" || qtype === "ANY";
    const answers: DnsRecord[] = [];
    const additionals: DnsRecord[] = [];
    const fixed = this.fixedName(name);
    if (fixed) {
      if (wantA) for (const ip of fixed.a) answers.push(this.a(name, ip));
      if (wantSrv && fixed.srv) answers.push(fixed.srv);
      if (fixed.srv && wantSrv && this.leader) additionals.push(this.a(`leader.${d}`, this.leader.ip));
      return { rcode: "NOERROR", answers, additionals };
    }
    const aTasks = this.aIndex.get(name);
    const srvTasks = this.srvIndex.get(name);
    if (!aTasks && !srvTasks) {
      return this.emptyNonTerminal(name) ? { rcode: "NOERROR", answers, additionals } : { rcode: "NXDOMAIN" };
    }
    if (aTasks && wantA) {
      const seen = new Set<string>();
      for (const t of aTasks) {
        const ip = this.agents.get(t.agentId)?.ip;
        if (ip && !seen.has(ip)) {
          seen.add(ip);
          answers.push(this.a(name, ip));
        }
      }
    }
    if (srvTasks && wantSrv) {
      for (const t of srvTasks) {
        const ip = this.agents.get(t.agentId)?.ip;
        if (!ip) continue;
        for (const port of t.ports) answers.push({ type: "SRV", name, ttl: this.ttl, data: { priority: 0, weight: 0, port, target: t.target } });
        additionals.push(this.a(t.target, ip));
      }
    }
    return { rcode: "NOERROR", answers, additionals };
  }

  /** Every name with records now, for operators (/records) and tests. */
  names(): string[] {
    const fixed = [`leader.${this.domain}`, `master.${this.domain}`, `agent.${this.domain}`, `slave.${this.domain}`, `_leader._tcp.${this.domain}`];
    return [...fixed, ...this.aIndex.keys(), ...this.srvIndex.keys()];
  }

  private a(name: string, ip: string): ARecord {
    return { type: "A", name, ttl: this.ttl, data: ip };
  }

  private fixedName(name: string): { a: string[]; srv?: SrvRecord } | undefined {
    const d = this.domain;
    switch (name) {
      case `leader.${d}`:
        return { a: this.leader ? [this.leader.ip] : [] };
      case `master.${d}`:
        return { a: [...new Set([...this.masters, ...(this.leader ? [this.leader.ip] : [])])] };
      case `agent.${d}`:
      case `slave.${d}`:
        return { a: [...new Set([...this.agents.values()].filter((a) => a.active).map((a) => a.ip))] };
      case `_leader._tcp.${d}`:
        return {
          a: [],
          srv: this.leader ? { type: "SRV", name, ttl: this.ttl, data: { priority: 0, weight: 0, port: this.leader.port, target: `leader.${d}` } } : undefined,
        };
      default:
        return undefined;
    }
  }

  /** The domain itself and `<framework>.<domain>`, `services.<domain>` exist without records of their own. */
  private emptyNonTerminal(name: string): boolean {
    const d = this.domain;
    if (name === d || name === `services.${d}` || name === `slave.${d}`) return true;
    const first = name.slice(0, name.length - d.length - 1);
    if (first.includes(".")) return false;
    for (const fw of this.frameworks.values()) if (sanitizeLabel(fw) === first) return true;
    return false;
  }

  private setLeader(info: MasterInfo | undefined): void {
    const address = info ? pidAddress(info.pid) : undefined;
    this.leader = address ? { ip: address.ip, port: info?.port || address.port } : undefined;
    this.version++;
  }

  private putFramework(id: string, name: string): void {
    if (this.frameworks.get(id) === name) return;
    this.frameworks.set(id, name);
    for (const t of this.tasks.values()) if (t.frameworkId === id) this.reindex(t);
    this.version++;
  }

  private putAgent(entry: AgentEntry, reregistered: boolean): void {
    const info = entry.agentInfo;
    const id = info?.id?.value;
    if (!id) return;
    const address = pidAddress(info.pid);
    if (!address) return;
    this.agents.set(id, { ip: address.ip, active: entry.status === AgentEntry_Status.ACTIVE });
    for (const t of [...this.tasks.values()]) {
      if (t.agentId !== id) continue;
      // A reregistered agent reported its tasks (TASK_ADDED) before this: the rest are gone.
      if (reregistered && t.stale) this.dropTask(t);
      else this.reindex(t);
    }
    this.version++;
  }

  private removeAgent(id: string): void {
    const agent = this.agents.get(id);
    if (agent) agent.active = false;
    for (const t of [...this.tasks.values()]) if (t.agentId === id && t.stale) this.dropTask(t);
    this.version++;
  }

  private putTask(task: Task): void {
    const id = task.taskId?.value;
    if (!id) return;
    const old = this.tasks.get(id);
    if (old) this.unindex(old);
    const t: TaskEntry = {
      id,
      name: task.name || id,
      frameworkId: task.frameworkId?.value ?? "",
      agentId: task.agentId?.value ?? "",
      state: task.state,
      ports: taskPorts(task),
      labels: labelMap(task),
      stale: false,
      aNames: [],
      srvNames: [],
      target: "",
    };
    if (isGone(t.state)) {
      this.tasks.delete(id);
    } else {
      this.tasks.set(id, t);
      this.index(t);
    }
    this.version++;
  }

  private updateTask(status: TaskStatus | undefined, state: TaskState): void {
    const id = status?.taskId?.value;
    const t = id ? this.tasks.get(id) : undefined;
    if (!t) return;
    t.state = state;
    if (isGone(state)) this.dropTask(t);
    else this.reindex(t);
    this.version++;
  }

  private dropTask(t: TaskEntry): void {
    this.unindex(t);
    this.tasks.delete(t.id);
    this.version++;
  }

  private reindex(t: TaskEntry): void {
    this.unindex(t);
    this.index(t);
  }

  private index(t: TaskEntry): void {
    if (t.state !== TaskState.RUNNING || !this.agents.has(t.agentId)) return;
    const framework = this.frameworks.get(t.frameworkId);
    if (framework === undefined) return;
    const fw = sanitizeLabel(framework);
    const task = sanitizeLabel(t.name);
    const d = this.domain;
    if (fw && task) {
      t.target = `${task}-${shortHash(t.id)}.${fw}.slave.${d}`;
      t.aNames.push(`${task}.${fw}.${d}`, t.target);
      if (t.ports.length > 0) t.srvNames.push(`_${task}._tcp.${fw}.${d}`);
    }
    const appId = appIdOfTask(t.id, t.labels) ?? undefined;
    const fromLabel = t.labels.has("MARATHON_APP_ID");
    if (appId && (fromLabel || this.servicesFrameworks.has(framework))) {
      const app = reversedAppName(appId);
      if (app) t.aNames.push(`${app}.services.${d}`);
    }
    for (const n of t.aNames) add(this.aIndex, n, t);
    for (const n of t.srvNames) add(this.srvIndex, n, t);
  }

  private unindex(t: TaskEntry): void {
    for (const n of t.aNames) remove(this.aIndex, n, t);
    for (const n of t.srvNames) remove(this.srvIndex, n, t);
    t.aNames = [];
    t.srvNames = [];
  }
}

/** Terminal, or a state after which the task is not where it was (UNREACHABLE stays known but unanswered). */
function isGone(state: TaskState): boolean {
  switch (state) {
    case TaskState.FINISHED:
    case TaskState.FAILED:
    case TaskState.KILLED:
    case TaskState.ERROR:
    case TaskState.LOST:
    case TaskState.DROPPED:
    case TaskState.GONE:
    case TaskState.GONE_BY_OPERATOR:
      return true;
    default:
      return false;
  }
}

function add(index: Map<string, Set<TaskEntry>>, name: string, t: TaskEntry): void {
  let set = index.get(name);
  if (!set) index.set(name, (set = new Set()));
  set.add(t);
}

function remove(index: Map<string, Set<TaskEntry>>, name: string, t: TaskEntry): void {
  const set = index.get(name);
  if (!set) return;
  set.delete(t);
  if (set.size === 0) index.delete(name);
}
