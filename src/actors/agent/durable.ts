/**
 * Durable file writes through the agent's FileSystem seam (runtime/file-system.ts):
 * atomic replacement, appends, and directory fsyncs shared by the writes that ask at once.
 */
import { dirname } from "node:path";
import type { AppendFile, FileSystem } from "../../runtime/file-system.js";

/**
 * One fsync of a directory shared by every caller that asks while none is running; callers
 * that ask during one share the next (their entry may have come after the running one
 * began). When twenty tasks' files appear in one directory at once, it is synced twice,
 * not twenty times.
 */
class GroupSync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly idle: () => void,
  ) {}

  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.fs.syncDir(this.dir).finally(() => {
        this.running = undefined;
        if (!this.next) this.idle();
      });
      return this.running;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.sync();
      });
    return this.next;
  }
}

/** Per file system (tests run several in-memory disks with the same paths): the directory syncs running and the directories known to exist. */
interface FsState {
  dirSyncs: Map<string, GroupSync>;
  madeDirs: Set<string>;
}
const states = new WeakMap<FileSystem, FsState>();

function stateOf(fs: FileSystem): FsState {
  let st = states.get(fs);
  if (!st) states.set(fs, (st = { dirSyncs: new Map(), madeDirs: new Set() }));
  return st;
}

/** Makes the directory's entries durable as of this call (the fsync may be shared, see GroupSync). */
export function syncDirectory(fs: FileSystem, dir: string): Promise<void> {
  const { dirSyncs } = stateOf(fs);
  let g = dirSyncs.get(dir);
  if (!g) dirSyncs.set(dir, (g = new GroupSync(fs, dir, () => dirSyncs.delete(dir))));
  return g.sync();
}

const MADE_DIRS_KEPT = 10_000;

/** Runs `create` (which makes `path`), making the directory (0700) first when it is not known to be there. */
async function inDir<T>(fs: FileSystem, path: string, create: () => Promise<T>): Promise<T> {
  const { madeDirs } = stateOf(fs);
  const dir = dirname(path);
  if (madeDirs.has(dir)) {
    try {
      return await create();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      madeDirs.delete(dir); // removed meanwhile: make it again
    }
  }
  await fs.mkdirp(dir, 0o700);
  if (madeDirs.size >= MADE_DIRS_KEPT) madeDirs.clear();
  madeDirs.add(dir);
  return create();
}

/** Opens `path` (0600) to append to, making its directory (0700) when needed. */
export function openForAppend(fs: FileSystem, path: string): Promise<AppendFile> {
  return inDir(fs, path, () => fs.openAppend(path, 0o600));
}

let temps = 0;
const encoder = new TextEncoder();

/**
 * Writes a file that no reader may find yet (the first checkpoint of an executor): straight
 * to its name, then its data and its directory entry flushed at once, one wait for the
 * disk's journal where writeAtomically needs two after each other (the temp file's, then
 * the rename's). A crash before both flushes end leaves no file, an empty one or a torn one
 * (which the reader ignores as unreadable), never another version: there is none. Only for
 * a file whose absence and whose unreadable form mean the same to its reader. `spare`: an
 * emptied file (spare-files.ts) renamed to `path` and written in place, when it is still there.
 */
export async function writeFirstVersion(fs: FileSystem, path: string, text: string, spare?: string): Promise<void> {
  const data = encoder.encode(text);
  if (spare === undefined || !(await renamedFrom(fs, spare, path))) await inDir(fs, path, () => fs.writeFile(path, data, 0o600));
  else await fs.writeFile(path, data, 0o600);
  await Promise.all([fs.syncFile(path), syncDirectory(fs, dirname(path))]);
}

/**
 * Renames a spare file (spare-files.ts) to `path`, so that writing it allocates no inode;
 * false when that fails (the spare is gone, ...): the file is then made as without one.
 * Until the write after it is durable, `path` may hold what the spare held before it was
 * emptied (a crash can keep the rename and lose the truncation): its reader must check that
 * the content names the file's owner (checkpoint.ts).
 */
async function renamedFrom(fs: FileSystem, spare: string, path: string): Promise<boolean> {
  try {
    await inDir(fs, path, () => fs.rename(spare, path));
    return true;
  } catch {
    return false;
  }
}

/**
 * Replaces the file atomically and durably: temp file, fsync, rename, fsync of the
 * directory (shared with the other writes into it meanwhile). The file is readable by its
 * owner only (checkpoints hold tasks' environments), and each write has its own temp file,
 * so two writes of one path never rename each other's (the last rename wins whole).
 */
export async function writeAtomically(fs: FileSystem, path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp.${process.pid}.${++temps}`;
  await inDir(fs, tmp, () => fs.writeFile(tmp, encoder.encode(text), 0o600));
  await fs.syncFile(tmp);
  await fs.rename(tmp, path);
  await syncDirectory(fs, dirname(path));
}
