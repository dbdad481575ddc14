/**
 * Where an agent's posix containerizer keeps its runtime directories: Mesos's
 * `--runtime_dir` (default /var/run/mesos), kept apart from the work dir's `meta` checkpoints.
 *
 * What is there. Per container `<root>/<id>/`: `state.json` (the container's pid, start time
 * and boot id, to find orphans), `exit_status` (written by the recorder), the destroy marker
 * `exit_status.destroying`, the warm launcher's `gate.sh`; `<root>/.launcher/` (the warm
 * launcher's socket and log) and `<root>/.trash/`. All of it must survive a kill -9 of the
 * agent (the restarted agent finds the containers, their launcher and how they ended) and
 * none of it a reboot: after a reboot no container of the previous boot runs, and the agent
 * reports their tasks GONE from the executor checkpoints in `<work dir>/meta`, which stay on
 * the disk with the sandboxes and the status update streams.
 *
 * Why tmpfs. Each launch made the runtime directory, wrote state.json, the gate file and the
 * exit status, and each end renamed it away and removed it: about ten metadata changes per
 * task on the disk, each a wait for the ext4 journal that the agent's fsyncs (checkpoints,
 * status updates) keep busy (the `containers` bench's stages; the same bench with the whole
 * work dir on /dev/shm had no such waits). On tmpfs they are memory operations.
 *
 * How it is chosen (`chooseRuntimeRoot`):
 * - `--runtime-dir=<dir>` (an explicit directory): that directory, as Mesos's flag.
 * - otherwise `<work dir>/containers`, which is either a directory on the work dir's disk
 *   (an agent of this work dir made it there before: its containers and launcher are found
 *   there again, so an upgrade never moves a running agent's containers) or a symbolic link
 *   to this work dir's directory on tmpfs, made at the work dir's first start:
 *   `/run/dcos-node/agent-XXXXXX` when /run is a tmpfs the agent may write, else
 *   `/dev/shm/dcos-node/agent-XXXXXX` (the parent must be a real directory of the agent's own
 *   user, not writable by others: /dev/shm is world-writable), else none: the directory on
 *   the disk as before. A link whose target is gone (the machine rebooted) gets a new target.
 *   Everything that knew `<work dir>/containers` keeps working through the link.
 * - Leftovers: every tmpfs directory has an `owner` file naming its work dir; one whose work
 *   dir no longer links to it (the work dir was deleted) is removed when the next agent of the
 *   machine chooses its root (not within a minute of its making: an agent starting at the
 *   same moment links it right after).
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statfsSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** statfs f_type of tmpfs (linux/magic.h). */
export const TMPFS_MAGIC = 0x01021994;
/** The work dir's entry for its runtime root (a directory, or a link to one on tmpfs). */
export const WORK_DIR_ENTRY = "containers";
/** In each tmpfs runtime root: the work dir it belongs to. */
export const OWNER_FILE = ".owner";
/** A tmpfs runtime root younger than this is never taken for a leftover. */
const LEFTOVER_MIN_AGE_MS = 60_000;

export interface RuntimeRootChoice {
  /** What the containerizer is given (`<work dir>/containers` unless a directory was named). */
  path: string;
  /** Where it really is. */
  target: string;
  tmpfs: boolean;
  /** Why, for the agent's log. */
  why: string;
}

export interface RuntimeRootOptions {
  /** `--runtime-dir`: an explicit directory (undefined or "": chosen as described above). */
  runtimeDir?: string;
  /** Parents of the tmpfs roots tried in order (default /run/dcos-node, /dev/shm/dcos-node). For tests. */
  tmpfsBases?: readonly string[];
  /** Told of leftovers that could not be removed and of a tmpfs parent refused. */
  warn?: (message: string, fields?: Record<string, unknown>) => void;
}

const DEFAULT_TMPFS_BASES = ["/run/dcos-node", "/dev/shm/dcos-node"];

export function isTmpfs(path: string): boolean {
  try {
    return statfsSync(path).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

/** Picks (and makes) the agent's runtime root for its work dir; see the file's comment. */
export function chooseRuntimeRoot(workDir: string, o: RuntimeRootOptions = {}): RuntimeRootChoice {
  if (o.runtimeDir) {
    const dir = resolve(o.runtimeDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return { path: dir, target: dir, tmpfs: isTmpfs(dir), why: "--runtime-dir" };
  }
  mkdirSync(workDir, { recursive: true });
  const entry = join(resolve(workDir), WORK_DIR_ENTRY);
  const st = lstatSync(entry, { throwIfNoEntry: false });
  if (st?.isDirectory()) return { path: entry, target: entry, tmpfs: isTmpfs(entry), why: "the work dir's own runtime directory (made there before)" };
  const bases = o.tmpfsBases ?? DEFAULT_TMPFS_BASES;
  if (st?.isSymbolicLink()) {
    const target = readlinkSync(entry);
    if (statSync(target, { throwIfNoEntry: false })?.isDirectory()) return { path: entry, target, tmpfs: isTmpfs(target), why: "the work dir's runtime directory on tmpfs" };
    // The target is gone (a reboot emptied the tmpfs): a new one.
    unlinkSync(entry);
  }
  for (const base of bases) {
    const parent = usableParent(base, o.warn);
    if (!parent) continue;
    sweepLeftovers(parent, o.warn);
    const target = mkdtempSync(join(parent, "agent-"));
    writeFileSync(join(target, OWNER_FILE), entry + "\n", { mode: 0o600 });
    symlinkSync(target, entry);
    return { path: entry, target, tmpfs: true, why: `tmpfs (${parent})` };
  }
  mkdirSync(entry, { mode: 0o700 });
  return { path: entry, target: entry, tmpfs: false, why: "no tmpfs the agent may use: on the work dir's disk" };
}

/** The tmpfs directory `base` made or checked (ours, a real directory, 0700), or undefined. */
function usableParent(base: string, warn: RuntimeRootOptions["warn"]): string | undefined {
  const fsRoot = base.split("/").slice(0, -1).join("/") || "/";
  if (!isTmpfs(fsRoot)) return undefined;
  try {
    mkdirSync(base, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") return undefined; // e.g. /run not writable by this user
  }
  const st = lstatSync(base, { throwIfNoEntry: false });
  const uid = process.getuid?.() ?? 0;
  if (!st?.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    warn?.("Not using a tmpfs runtime directory: its parent is not a directory of this user closed to others", { dir: base });
    return undefined;
  }
  return base;
}

/** Removes tmpfs runtime roots whose work dir no longer links to them (the work dir was deleted). */
function sweepLeftovers(parent: string, warn: RuntimeRootOptions["warn"]): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith("agent-")) continue;
    const dir = join(parent, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || now - st.mtimeMs < LEFTOVER_MIN_AGE_MS) continue;
      const owner = readFileSync(join(dir, OWNER_FILE), "utf8").trim();
      let linked: string | undefined;
      try {
        linked = readlinkSync(owner);
      } catch {
        linked = undefined;
      }
      if (linked === dir) continue;
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue; // no owner file yet, or removed meanwhile
      warn?.("Could not remove a leftover tmpfs runtime directory", { dir, err: (e as Error).message });
    }
  }
}
