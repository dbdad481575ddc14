/**
 * What the agent writes down so that a restarted agent finds its work again (Mesos's
 * slave/paths + state checkpoints), under `<work>/meta`:
 *
 *   agent.json                                    the agent id the master gave
 *   frameworks/<fw>/executors/<ex>.json           one executor: its framework, info, container
 *                                                 state and tasks
 *   spare/<n>                                     ended executors' emptied files, kept to be the
 *                                                 next launches' (spare-files.ts)
 *
 * Files are replaced atomically (write a temp file, fsync, rename, fsync the directory), so
 * a crash leaves the old or the new version, never half of one. An executor's first
 * checkpoint is written in place (there is no old version): a crash leaves it complete,
 * or absent, empty or torn (`torn` in ReadCheckpoints: recovery removes it). It is written
 * into an ended executor's emptied file when there is one (spare-files.ts: no inode made or
 * freed per launch); a crash may then leave that executor's old content under the new name,
 * which the reader tells by the ids in it and takes for torn too.
 */
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { dirname, join } from "node:path";
import { FrameworkInfoSchema, type FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { ExecutorInfoSchema, TaskInfoSchema, type ExecutorInfo, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import type { ContainerState } from "../../isolation/containerizer.js";
import type { FileSystem } from "../../runtime/file-system.js";
import type { ExecutorKind } from "./agent-records.js";
import { syncDirectory, writeAtomically, writeFirstVersion } from "./durable.js";
import { pathComponent } from "./paths.js";
import type { SpareFiles } from "./spare-files.js";

export interface ExecutorCheckpoint {
  framework: FrameworkInfo;
  executor: ExecutorInfo;
  kind: ExecutorKind;
  containerId: string;
  sandbox: string;
  /** Known once the container was launched. */
  container: ContainerState | undefined;
  tasks: { task: TaskInfo; role: string }[];
}

interface ExecutorCheckpointJson {
  framework: JsonValue;
  executor: JsonValue;
  kind: ExecutorKind;
  containerId: string;
  sandbox: string;
  container?: ContainerState;
  tasks: { task: JsonValue; role: string }[];
}

export function metaDir(workDir: string): string {
  return join(workDir, "meta");
}

/** Where ended executors' checkpoint files wait to be reused (spare-files.ts). */
export function spareCheckpointsDir(workDir: string): string {
  return join(metaDir(workDir), "spare");
}

function executorFile(workDir: string, frameworkId: string, executorId: string): string {
  return join(metaDir(workDir), "frameworks", pathComponent("framework id", frameworkId), "executors", pathComponent("executor id", executorId) + ".json");
}

const decoder = new TextDecoder();

export async function writeAgentId(fs: FileSystem, workDir: string, agentId: string): Promise<void> {
  await writeAtomically(fs, join(metaDir(workDir), "agent.json"), JSON.stringify({ agentId }) + "\n");
}

/** The checkpointed agent id, or "" for a new agent. */
export async function readAgentId(fs: FileSystem, workDir: string): Promise<string> {
  try {
    const json = JSON.parse(decoder.decode(await fs.readFile(join(metaDir(workDir), "agent.json")))) as { agentId?: unknown };
    return typeof json.agentId === "string" ? json.agentId : "";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

/**
 * `first`: no checkpoint of this executor was written before (a new launch): written in
 * place with one flush instead of replaced (durable.ts's writeFirstVersion). A crash before
 * it is durable leaves no readable checkpoint, which recovery treats as none (the container
 * is an orphan, a task whose STARTING was sent is LOST), as when it came before the write.
 * `spares`: a first checkpoint is written into one of them when there is one.
 */
export async function writeExecutorCheckpoint(fs: FileSystem, workDir: string, cp: ExecutorCheckpoint, first = false, spares?: SpareFiles): Promise<void> {
  const json: ExecutorCheckpointJson = {
    framework: toJson(FrameworkInfoSchema, cp.framework),
    executor: toJson(ExecutorInfoSchema, cp.executor),
    kind: cp.kind,
    containerId: cp.containerId,
    sandbox: cp.sandbox,
    ...(cp.container ? { container: cp.container } : {}),
    tasks: cp.tasks.map((t) => ({ task: toJson(TaskInfoSchema, t.task), role: t.role })),
  };
  const fwId = cp.framework.id?.value ?? "";
  const path = executorFile(workDir, fwId, cp.executor.executorId?.value ?? "");
  const text = JSON.stringify(json) + "\n";
  if (first) await writeFirstVersion(fs, path, text, spares?.take());
  else await writeAtomically(fs, path, text);
}

/**
 * Removes the checkpoint durably (its directory flushed: the status update manager then forgets
 * the executor's streams). `spares`: the file is emptied and kept there to be reused
 * (spare-files.ts), else deleted.
 */
export async function removeExecutorCheckpoint(fs: FileSystem, workDir: string, frameworkId: string, executorId: string, spares?: SpareFiles): Promise<void> {
  const file = executorFile(workDir, frameworkId, executorId);
  await (spares ? spares.retire(file) : fs.remove(file));
  await syncDirectory(fs, dirname(file)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err; // no directory: the executor was never checkpointed
  });
}

export interface ReadCheckpoints {
  executors: ExecutorCheckpoint[];
  /**
   * Files that could not be read, with why. `torn`: the file does not end with the newline
   * every complete checkpoint ends with (empty, or cut short): a first write a crash
   * interrupted (writeFirstVersion), never a version a reader may have relied on; also a
   * reused file (spare-files.ts) still naming another executor than its name: that first
   * write was lost.
   */
  unreadable: { path: string; error: string; torn: boolean }[];
}

/** Every executor checkpoint under the work directory. */
export async function readExecutorCheckpoints(fs: FileSystem, workDir: string): Promise<ReadCheckpoints> {
  const out: ReadCheckpoints = { executors: [], unreadable: [] };
  const root = join(metaDir(workDir), "frameworks");
  for (const fw of (await fs.list(root)).sort()) {
    let files: string[];
    try {
      files = (await fs.list(join(root, fw, "executors"))).filter((f) => f.endsWith(".json")).sort();
    } catch {
      continue;
    }
    for (const f of files) {
      const path = join(root, fw, "executors", f);
      let text: string | undefined;
      try {
        text = decoder.decode(await fs.readFile(path));
        const json = JSON.parse(text) as ExecutorCheckpointJson;
        const ids = ownerOf(json);
        if (ids.frameworkId !== fw || `${ids.executorId}.json` !== f) {
          // A reused file (spare-files.ts) still holding its previous executor: the new one's first write was lost.
          out.unreadable.push({ path, error: `it holds executor ${JSON.stringify(ids.executorId)} of framework ${JSON.stringify(ids.frameworkId)}`, torn: true });
          continue;
        }
        out.executors.push({
          framework: fromJson(FrameworkInfoSchema, json.framework),
          executor: fromJson(ExecutorInfoSchema, json.executor),
          kind: json.kind,
          containerId: json.containerId,
          sandbox: json.sandbox,
          container: json.container,
          tasks: json.tasks.map((t) => ({ task: fromJson(TaskInfoSchema, t.task), role: t.role })),
        });
      } catch (err) {
        out.unreadable.push({ path, error: (err as Error).message, torn: text !== undefined && !text.endsWith("\n") });
      }
    }
  }
  return out;
}

/** The framework and executor ids a checkpoint's JSON names ("" where it names none). */
function ownerOf(json: ExecutorCheckpointJson): { frameworkId: string; executorId: string } {
  const framework = json.framework as { id?: { value?: unknown } } | null;
  const executor = json.executor as { executorId?: { value?: unknown } } | null;
  const str = (v: unknown): string => (typeof v === "string" ? v : "");
  return { frameworkId: str(framework?.id?.value), executorId: str(executor?.executorId?.value) };
}
