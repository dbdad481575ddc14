/** Durable file writes: fsync of files and directories, atomic replacement. */
import { mkdir, open, rename } from "node:fs/promises";
import { dirname } from "node:path";

/** fsync a file or a directory (a directory's fsync makes its new entries durable). */
export async function fsyncPath(path: string): Promise<void> {
  const fd = await open(path, "r");
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

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
    private readonly dir: string,
    private readonly idle: () => void,
  ) {}

  sync(): Promise<void> {
    if (!this.running) {
      this.running = fsyncPath(this.dir).finally(() => {
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

const dirSyncs = new Map<string, GroupSync>();

/** Makes the directory's entries durable as of this call (the fsync may be shared, see GroupSync). */
export function syncDirectory(dir: string): Promise<void> {
  let g = dirSyncs.get(dir);
  if (!g) dirSyncs.set(dir, (g = new GroupSync(dir, () => dirSyncs.delete(dir))));
  return g.sync();
}

/** Directories this process made or found (a write into one needs no mkdir first). */
const madeDirs = new Set<string>();
const MADE_DIRS_KEPT = 10_000;

/** Opens `path` for writing, making its directory (0700) first when it is not known to be there. */
async function openInDir(path: string, flags: string, mode: number): Promise<Awaited<ReturnType<typeof open>>> {
  const dir = dirname(path);
  if (madeDirs.has(dir)) {
    try {
      return await open(path, flags, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      madeDirs.delete(dir); // removed meanwhile: make it again
    }
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (madeDirs.size >= MADE_DIRS_KEPT) madeDirs.clear();
  madeDirs.add(dir);
  return open(path, flags, mode);
}

let temps = 0;

/**
 * Replaces the file atomically and durably: temp file, fsync, rename, fsync of the
 * directory (shared with the other writes into it meanwhile). The file is readable by its
 * owner only (checkpoints hold tasks' environments), and each write has its own temp file,
 * so two writes of one path never rename each other's (the last rename wins whole).
 */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp.${process.pid}.${++temps}`;
  const fd = await openInDir(tmp, "w", 0o600);
  try {
    await fd.writeFile(text);
    await fd.sync();
  } finally {
    await fd.close();
  }
  await rename(tmp, path);
  await syncDirectory(dirname(path));
}

/** Opens a file to append to (0600), making its directory (0700) when needed. */
export function openForAppend(path: string): ReturnType<typeof open> {
  return openInDir(path, "a", 0o600);
}
