/** What `dcos-node maintenance` does (maintenance.ts parses the command line). */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import type { MachineID } from "../gen/dcos/v1/cluster_pb.js";
import { InverseOfferStatus_Status, type GetMaintenanceStatusResponse } from "../gen/dcos/v1/operator_pb.js";
import { maintenanceScheduleJson, MAX_SCHEDULE_JSON_BYTES, parseMaintenanceScheduleJson } from "../operator/maintenance-json.js";
import { maintenanceJson } from "../operator/master-state-json.js";
import { operatorCall, type OperatorTarget } from "./operator-client.js";

async function readInput(file: string): Promise<string> {
  if (file !== "-") return readFile(file, "utf8");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_SCHEDULE_JSON_BYTES) throw new Error(`maintenance schedule: larger than ${MAX_SCHEDULE_JSON_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function schedule(target: OperatorTarget, file: string | undefined): Promise<void> {
  if (file === undefined) {
    const r = await operatorCall(target, "getMaintenanceSchedule", {});
    console.log(JSON.stringify(maintenanceScheduleJson(r.schedule ?? { $typeName: "dcos.v1.MaintenanceSchedule", windows: [] }), null, 2));
    return;
  }
  const parsed = parseMaintenanceScheduleJson(await readInput(file));
  await operatorCall(target, "updateMaintenanceSchedule", { schedule: parsed });
  const machines = parsed.windows.reduce((n, w) => n + w.machineIds.length, 0);
  console.log(`Maintenance schedule updated: ${parsed.windows.length} window(s), ${machines} machine(s)`);
}

function machineName(m: MachineID | undefined): string {
  if (!m) return "?";
  return m.hostname && m.ip ? `${m.hostname} (${m.ip})` : m.hostname || m.ip;
}

const ANSWER: Record<InverseOfferStatus_Status, string> = {
  [InverseOfferStatus_Status.UNSPECIFIED]: "no answer yet",
  [InverseOfferStatus_Status.ACCEPT]: "ACCEPT",
  [InverseOfferStatus_Status.DECLINE]: "DECLINE",
};

/** One line per machine (tab-separated), each framework's answer indented under its machine. */
export function statusLines(s: GetMaintenanceStatusResponse): string[] {
  const lines: string[] = [];
  for (const d of s.drainingMachines) {
    const u = d.unavailability;
    const start = new Date((u?.startSeconds ?? 0) * 1000).toISOString();
    lines.push(`${machineName(d.id)}\tDRAINING\tdown from ${start} for ${u?.durationSeconds ?? 0}s`);
    for (const st of d.statuses) lines.push(`  framework ${st.frameworkId?.value ?? "?"} on agent ${st.agentId?.value ?? "?"}: ${ANSWER[st.status]}`);
  }
  for (const m of s.downMachines) lines.push(`${machineName(m)}\tDOWN`);
  if (lines.length === 0) lines.push("No machine has maintenance ahead or is down.");
  return lines;
}

export async function status(target: OperatorTarget, json: boolean): Promise<void> {
  const r = await operatorCall(target, "getMaintenanceStatus", {});
  console.log(json ? JSON.stringify(maintenanceJson(r), null, 2) : statusLines(r).join("\n"));
}

function machines(hosts: readonly string[]): { hostname: string; ip: string }[] {
  return hosts.map((h) => (isIP(h) ? { hostname: "", ip: h } : { hostname: h, ip: "" }));
}

export async function down(target: OperatorTarget, hosts: readonly string[]): Promise<void> {
  await operatorCall(target, "startMaintenance", { machines: machines(hosts) });
  console.log(`Down for maintenance: ${hosts.join(", ")}`);
}

export async function up(target: OperatorTarget, hosts: readonly string[]): Promise<void> {
  await operatorCall(target, "stopMaintenance", { machines: machines(hosts) });
  console.log(`Up again (out of the schedule): ${hosts.join(", ")}`);
}
