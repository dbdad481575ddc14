/**
 * The maintenance schedule in Mesos's JSON shape (what `GET /maintenance/schedule` answers
 * and `dcos-node maintenance schedule FILE.json` reads):
 *
 *     {"windows": [{"machine_ids": [{"hostname": "a", "ip": "10.0.0.1"}],
 *                   "unavailability": {"start": {"nanoseconds": 1443830400000000000},
 *                                      "duration": {"nanoseconds": 3600000000000}}}]}
 *
 * Nanoseconds may be JSON numbers or strings of digits (proto3 JSON writes int64 as strings).
 */
import { create } from "@bufbuild/protobuf";
import { MaintenanceScheduleSchema, type MaintenanceSchedule } from "../gen/dcos/v1/cluster_pb.js";

/** The largest schedule file read (bytes): far above 1,000 windows of 10,000 machines' names. */
export const MAX_SCHEDULE_JSON_BYTES = 4 * 1024 * 1024;

export function maintenanceScheduleJson(schedule: MaintenanceSchedule): Record<string, unknown> {
  const ns = (seconds: number | undefined) => ({ nanoseconds: Math.round((seconds ?? 0) * 1e9) });
  return {
    windows: schedule.windows.map((w) => ({
      machine_ids: w.machineIds.map((m) => ({ hostname: m.hostname, ip: m.ip })),
      unavailability: { start: ns(w.unavailability?.startSeconds), duration: ns(w.unavailability?.durationSeconds) },
    })),
  };
}

class ScheduleJsonError extends Error {}

function fail(path: string, what: string): never {
  throw new ScheduleJsonError(`maintenance schedule: ${path} ${what}`);
}

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, "must be an object");
  return v as Record<string, unknown>;
}

function array(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, "must be an array");
  return v;
}

function optionalString(v: unknown, path: string): string {
  if (v === undefined) return "";
  if (typeof v !== "string") fail(path, "must be a string");
  return v;
}

/** `{"nanoseconds": N}` as seconds. */
function seconds(v: unknown, path: string): number {
  const ns = object(v, path).nanoseconds;
  const n = typeof ns === "number" ? ns : typeof ns === "string" && /^-?\d+$/.test(ns) ? Number(ns) : NaN;
  if (!Number.isFinite(n)) fail(`${path}.nanoseconds`, "must be an integer (a number or a string of digits)");
  return n / 1e9;
}

/** Parses a schedule in Mesos's JSON shape; throws an Error naming the first bad field. */
export function parseMaintenanceScheduleJson(text: string): MaintenanceSchedule {
  if (text.length > MAX_SCHEDULE_JSON_BYTES) throw new ScheduleJsonError(`maintenance schedule: larger than ${MAX_SCHEDULE_JSON_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ScheduleJsonError(`maintenance schedule: not JSON: ${(err as Error).message}`);
  }
  const top = object(value, "the document");
  const windows = array(top.windows ?? [], "windows").map((w, i) => {
    const path = `windows[${i}]`;
    const win = object(w, path);
    const machineIds = array(win.machine_ids, `${path}.machine_ids`).map((m, j) => {
      const mp = `${path}.machine_ids[${j}]`;
      const machine = object(m, mp);
      const hostname = optionalString(machine.hostname, `${mp}.hostname`);
      const ip = optionalString(machine.ip, `${mp}.ip`);
      if (!hostname && !ip) fail(mp, 'needs a "hostname" or an "ip"');
      return { hostname, ip };
    });
    const u = object(win.unavailability, `${path}.unavailability`);
    if (u.duration === undefined) fail(`${path}.unavailability.duration`, "is required (a window has an end)");
    return { machineIds, unavailability: { startSeconds: seconds(u.start, `${path}.unavailability.start`), durationSeconds: seconds(u.duration, `${path}.unavailability.duration`) } };
  });
  return create(MaintenanceScheduleSchema, { windows });
}
