/**
 * Files the agent keeps instead of deleting them, to give to the next file it creates in the
 * same file system: an ended executor's checkpoint becomes the next launch's (checkpoint.ts).
 *
 * Why. Every launch created one checkpoint file and every end deleted one. On ext4 each new
 * inode is found by scanning the inode group's bitmap from its start, and without a journal
 * (this project's test machine) every free inode deleted in the last minutes is checked and
 * skipped, one inode-table lookup each: with launches and ends at 150/s, the checkpoint's
 * `open(O_CREAT)` took about 0.4 ms of the agent's loop per task, nearly all of it that scan,
 * longer with every deletion before it (the `containers` bench's profiles, docs/task-launch.md
 * "Session 10"). A rename and a truncation allocate no inode and free none.
 *
 * How. `retire` empties a file (truncate to 0) and renames it into `<dir>/<n>` while fewer
 * than `max` wait there, else deletes it (as before: through the thread pool); `take` hands one out (the caller renames it to its
 * new name and writes it in place, durable.ts's writeFirstVersion). Only this process's own
 * retired files are handed out: `reset` removes whatever an earlier agent left in `<dir>`,
 * before the first `take` (recovery). Nothing here is flushed: a retired file is a removed
 * one, and a crash may leave it where it was, emptied (a torn checkpoint, which recovery
 * removes) or not, as a removal that was not flushed may leave the file.
 */
import { join } from "node:path";
import type { FileSystem } from "../../runtime/file-system.js";

/** Kept at most (each an empty file, an inode and a directory entry). */
export const SPARE_FILES_MAX = 256;

export class SpareFiles {
  private readonly spares: string[] = [];
  private next = 0;
  private dirMade = false;

  constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
    private readonly max = SPARE_FILES_MAX,
  ) {}

  get size(): number {
    return this.spares.length;
  }

  /** Removes an earlier process's spares (it may have left one half renamed by a crash): none is handed out. */
  async reset(): Promise<void> {
    this.spares.length = 0;
    await this.fs.remove(this.dir);
    this.dirMade = false;
  }

  /** A spare file's path, which the caller renames away (undefined: none; create a new file). */
  take(): string | undefined {
    return this.spares.pop();
  }

  /** Empties `path` and keeps it as a spare, or deletes it when enough are kept. Nothing if it does not exist. */
  async retire(path: string): Promise<void> {
    try {
      if (this.spares.length >= this.max) return await this.fs.remove(path);
      // Its ftruncate goes through the thread pool (agent-file-system.ts): freeing the blocks
      // can wait for the device (a discard); a reused file, empty, then frees none.
      await this.fs.truncate(path, 0);
      if (!this.dirMade) {
        await this.fs.mkdirp(this.dir, 0o700);
        this.dirMade = true;
      }
      const spare = join(this.dir, String(++this.next));
      await this.fs.rename(path, spare);
      this.spares.push(spare);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}
