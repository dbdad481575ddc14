/**
 * The agent's checkpointed resources: the dynamic reservations and persistent volumes the
 * master told it about (CheckpointResources), kept in `<work>/meta/resources.json` so an
 * agent that restarts offers them again (its total is its --resources with these applied),
 * and the volume directories that go with them: created for a new volume, removed when the
 * volume is destroyed, never touched when a task ends.
 */
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { join } from "node:path";
import { ReservationInfo_Type, ResourceSchema, type Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Resources } from "../../resources/index.js";
import type { FileSystem } from "../../runtime/file-system.js";
import { volumeDir } from "./volumes.js";
import { isPersistentVolume } from "../../resources/volumes.js";
import { writeAtomically } from "./durable.js";

function file(workDir: string): string {
  return join(workDir, "meta", "resources.json");
}

export async function readCheckpointedResources(fs: FileSystem, workDir: string): Promise<Resource[]> {
  let text: string;
  try {
    text = new TextDecoder().decode(await fs.readFile(file(workDir)));
  } catch {
    return [];
  }
  return (JSON.parse(text) as JsonValue[]).map((j) => fromJson(ResourceSchema, j));
}

export async function writeCheckpointedResources(fs: FileSystem, workDir: string, resources: readonly Resource[]): Promise<void> {
  await writeAtomically(fs, file(workDir), JSON.stringify(resources.map((r) => toJson(ResourceSchema, r))));
}

/** The last checkpoint-and-sync started per work dir: the next one runs after it. */
const inOrder = new Map<string, Promise<void>>();

/**
 * Writes the checkpointed resources, then makes or removes volume directories, after every
 * earlier checkpoint of this work dir finished (a RESERVE then UNRESERVE in quick succession
 * must not interleave: the file and the volumes end as the last one says).
 */
export function checkpointResources(fs: FileSystem, workDir: string, before: readonly Resource[], after: readonly Resource[]): Promise<void> {
  const previous = inOrder.get(workDir) ?? Promise.resolve();
  const next = previous
    .catch(() => undefined)
    .then(() => writeCheckpointedResources(fs, workDir, after))
    .then(() => syncVolumes(fs, workDir, before, after));
  const settled = next.catch(() => undefined);
  inOrder.set(workDir, settled);
  void settled.then(() => {
    if (inOrder.get(workDir) === settled) inOrder.delete(workDir);
  });
  return next;
}

/** The resource as the agent's flags give it: no dynamic reservations, no volume. */
function base(r: Resource): Resource {
  return { ...r, reservations: r.reservations.filter((x) => x.type !== ReservationInfo_Type.DYNAMIC), disk: undefined, allocationInfo: undefined };
}

/**
 * The agent's total: `total` (from its flags) with the checkpointed resources in place of
 * what they were made from. Ones whose base is no longer there (the flags changed) are left
 * out and returned as `dropped`.
 */
export function applyCheckpointed(total: Resources, checkpointed: readonly Resource[]): { total: Resources; dropped: Resource[] } {
  let out = total;
  const dropped: Resource[] = [];
  for (const r of checkpointed) {
    const from = Resources.of([base(r)]);
    if (!out.contains(from)) {
      dropped.push(r);
      continue;
    }
    out = out.subtract(from).add(Resources.of([r]));
  }
  return { total: out, dropped };
}

/** Creates the directories of new volumes and removes those of destroyed ones. */
export async function syncVolumes(fs: FileSystem, workDir: string, before: readonly Resource[], after: readonly Resource[]): Promise<void> {
  const dirs = (list: readonly Resource[]) => new Set(list.filter(isPersistentVolume).map((r) => volumeDir(workDir, r)));
  const kept = dirs(after);
  for (const dir of kept) await fs.mkdirp(dir);
  for (const dir of dirs(before)) if (!kept.has(dir)) await fs.remove(dir);
}
