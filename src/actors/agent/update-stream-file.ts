/**
 * The on-disk form of one task's status update stream: an append-only file of JSON lines,
 * one record per update received and per acknowledgement, each fsynced before the caller
 * goes on (Mesos's TaskStatusUpdateStream checkpoint). A torn last line (a crash in the
 * middle of a write) is skipped on reading.
 */
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { mkdir, open, readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { StatusUpdateSchema, type StatusUpdate } from "../../gen/dcos/v1/internal_pb.js";
import { fsyncPath } from "./durable.js";
import { pathComponent } from "./paths.js";

export type StreamRecord = { kind: "update"; update: StatusUpdate } | { kind: "ack"; uuid: Uint8Array };

const SUFFIX = ".updates";

export function streamFilePath(dir: string, frameworkId: string, taskId: string): string {
  return join(dir, pathComponent("framework id", frameworkId), pathComponent("task id", taskId) + SUFFIX);
}

function encodeRecord(record: StreamRecord): string {
  const json =
    record.kind === "update"
      ? { t: "update", update: toJson(StatusUpdateSchema, record.update) }
      : { t: "ack", uuid: Buffer.from(record.uuid).toString("base64") };
  return JSON.stringify(json) + "\n";
}

function decodeRecord(line: string): StreamRecord {
  const json = JSON.parse(line) as { t?: string; update?: JsonValue; uuid?: string };
  if (json.t === "update" && json.update !== undefined) return { kind: "update", update: fromJson(StatusUpdateSchema, json.update) };
  if (json.t === "ack" && typeof json.uuid === "string") return { kind: "ack", uuid: new Uint8Array(Buffer.from(json.uuid, "base64")) };
  throw new Error(`unknown record ${line.slice(0, 80)}`);
}

/** Appends one record and fsyncs it; a new file's directory is fsynced too. */
export async function appendRecord(path: string, record: StreamRecord, created: boolean): Promise<void> {
  if (created) await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Status updates carry what executors report (messages, data): owner-only, like the checkpoints.
  const fd = await open(path, "a", 0o600);
  try {
    await fd.write(encodeRecord(record));
    await fd.datasync();
  } finally {
    await fd.close();
  }
  if (created) await fsyncPath(dirname(path));
}

export interface StreamFile {
  path: string;
  records: StreamRecord[];
  /** Lines that could not be read (a torn tail), skipped. */
  skipped: number;
}

/** Every stream file under dir (`<dir>/<framework>/<task>.updates`), parsed. */
export async function readStreamFiles(dir: string): Promise<StreamFile[]> {
  const out: StreamFile[] = [];
  let frameworks: string[];
  try {
    frameworks = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return out;
    throw err;
  }
  for (const fw of frameworks.sort()) {
    const files = (await readdir(join(dir, fw))).filter((f) => f.endsWith(SUFFIX)).sort();
    for (const f of files) {
      const path = join(dir, fw, f);
      const records: StreamRecord[] = [];
      let skipped = 0;
      for (const line of (await readFile(path, "utf8")).split("\n")) {
        if (line.length === 0) continue;
        try {
          records.push(decodeRecord(line));
        } catch {
          skipped++;
        }
      }
      out.push({ path, records, skipped });
    }
  }
  return out;
}
