/**
 * One line per cluster event for the live feed, with a link to what it is about. Reads the
 * protobuf JSON form of dcos.v1.ClusterEvent (camelCase fields, `{value}` ids, enum names
 * such as TASK_STATE_RUNNING).
 */
import type { EventJson } from "./api.js";

export interface EventLine {
  text: string;
  /** A hash route of the UI (#/tasks/…, #/agents/…, #/frameworks/…), when there is one. */
  href?: string;
}

type Obj = Record<string, any>;

/** "TASK_STATE_RUNNING" (protobuf JSON) → "TASK_RUNNING" (Mesos, /state). */
export function taskStateName(state: unknown): string {
  return typeof state === "string" ? state.replace(/^TASK_STATE_/, "TASK_") : "TASK_UNKNOWN";
}

const id = (x: Obj | undefined): string => (x && typeof x.value === "string" ? x.value : "?");

function taskHref(frameworkId: string, taskId: string): string {
  return `#/tasks/${encodeURIComponent(frameworkId)}/${encodeURIComponent(taskId)}`;
}

function frameworkLine(verb: string, entry: Obj | undefined): EventLine {
  const info: Obj = entry?.frameworkInfo ?? {};
  const fid = id(info.id);
  return { text: `Framework ${info.name ?? fid} ${verb}`, href: `#/frameworks/${encodeURIComponent(fid)}` };
}

export function describeEvent(e: EventJson): EventLine {
  const body = (key: string): Obj => (e[key] as Obj | undefined) ?? {};
  switch (e.type) {
    case "TASK_ADDED": {
      const t: Obj = body("taskAdded").task ?? {};
      const tid = id(t.taskId);
      return { text: `Task ${tid} added on agent ${id(t.agentId)} (${taskStateName(t.state)})`, href: taskHref(id(t.frameworkId), tid) };
    }
    case "TASK_UPDATED": {
      const u = body("taskUpdated");
      const tid = id(u.status?.taskId);
      const why = u.status?.message ? `: ${u.status.message}` : "";
      return { text: `Task ${tid} is ${taskStateName(u.state)}${why}`, href: taskHref(id(u.frameworkId), tid) };
    }
    case "STATUS_UPDATE": {
      const u = body("statusUpdate");
      const tid = id(u.status?.taskId);
      return { text: `Status update: task ${tid} ${taskStateName(u.status?.state)}`, href: taskHref(id(u.frameworkId), tid) };
    }
    case "AGENT_ADDED": {
      const info: Obj = body("agentAdded").agent?.agentInfo ?? {};
      const aid = id(info.id);
      return { text: `Agent ${info.hostname ?? ""} ${aid} added`, href: `#/agents/${encodeURIComponent(aid)}` };
    }
    case "AGENT_REMOVED": {
      const r = body("agentRemoved");
      const aid = id(r.agentId);
      return { text: `Agent ${aid} removed${r.reason ? `: ${r.reason}` : ""}`, href: `#/agents/${encodeURIComponent(aid)}` };
    }
    case "FRAMEWORK_ADDED":
      return frameworkLine("added", body("frameworkAdded").framework);
    case "FRAMEWORK_UPDATED": {
      const f = body("frameworkUpdated").framework;
      return frameworkLine(f?.connected ? "updated (connected)" : "updated (disconnected)", f);
    }
    case "FRAMEWORK_REMOVED": {
      const r = body("frameworkRemoved");
      return frameworkLine(`removed${r.reason ? `: ${r.reason}` : ""}`, { frameworkInfo: r.frameworkInfo });
    }
    case "OFFERS_MADE": {
      const offers: Obj[] = body("offersMade").offers ?? [];
      return { text: `${offers.length} offer${offers.length === 1 ? "" : "s"} made to framework ${id(offers[0]?.frameworkId)}` };
    }
    case "OFFERS_DECLINED": {
      const d = body("offersDeclined");
      const n = (d.offerIds ?? []).length;
      return { text: `${n} offer${n === 1 ? "" : "s"} declined by framework ${id(d.frameworkId)}` };
    }
    case "OFFER_RESCINDED": {
      const r = body("offerRescinded");
      return { text: `Offer ${id(r.offer?.id)} rescinded${r.reason ? `: ${r.reason}` : ""}` };
    }
    case "LEADER_CHANGED": {
      const leader: Obj | undefined = body("leaderChanged").leader;
      return { text: leader ? `Leading master is now ${leader.pid ?? leader.hostname}` : "No master is leading" };
    }
    default:
      return { text: e.type };
  }
}
