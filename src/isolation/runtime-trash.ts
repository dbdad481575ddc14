/**
 * Removing ended containers' runtime directories without waiting for the disk.
 *
 * Why. A runtime directory (state.json, exit_status, the gate file) is removed once its
 * container's end is known. Removing it is unlinks and an rmdir, and on a journaling file
 * system that the agent keeps busy with fsyncs (checkpoints, status updates) each waits for
 * the journal: `rmSync` of one measured 2.8–3.8 ms here at load 8–10, in the agent's event
 * loop (17 % of its busy time in the `containers` bench, more than any other call). A rename
 * within the same directory tree is one metadata change, 0.02 ms in the same measurement.
 *
 * What. `discard` renames the directory into `<runtime root>/.trash/` (no container id
 * starts with a dot, so recovery never takes it for a container) and removes it from there
 * in the background, one directory at a time through the thread pool, so it never holds
 * more than one of the pool's threads from the agent's fsyncs. Nothing waits for that. A
 * trash left by an agent that died is emptied by the next one (`sweep`, on recovery).
 *
 * On tmpfs (runtime-root.ts: the default where the machine has one) there is no disk to wait
 * for: removing a runtime directory is a few µs of memory work, while the background removal
 * cost about ten trips through the thread pool per directory (lstat, rmdir, readdir, an
 * lstat and an unlink per file), each a callback and a promise in the agent's loop (about
 * 0.3 ms of the agent's CPU per task in the `containers` bench's profile). There `discard`
 * removes the directory at once, in place (`inPlace`).
 */
import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { isTmpfs } from "./runtime-root.js";

/** The trash's name in the runtime root (a name no container id can have: ids start with a letter, digit or _). */
export const TRASH_DIR = ".trash";

export class RuntimeTrash {
  private readonly root: string;
  private readonly dir: string;
  private made = false;
  private readonly queue: string[] = [];
  private emptying: Promise<void> | undefined;
  private discarded = 0;

  constructor(
    runtimeRoot: string,
    /** Told of a directory that could not be removed (it stays in the trash until the next sweep). */
    private readonly warn: (err: unknown, path: string) => void = () => undefined,
    /** Removed at once by `discard`, without the trash; by default when the root is on tmpfs (decided at the first discard). */
    private inPlace?: boolean,
  ) {
    this.root = runtimeRoot;
    this.dir = join(runtimeRoot, TRASH_DIR);
  }

  /** Takes `path` away at once (a rename); it is removed in the background. A path that is not there is fine. */
  discard(path: string): void {
    this.inPlace ??= isTmpfs(this.root);
    if (this.inPlace) return this.removeInPlace(path);
    try {
      if (!this.made) {
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        this.made = true;
      }
      const to = join(this.dir, `${basename(path)}.${process.pid}.${++this.discarded}`);
      renameSync(path, to);
      this.queue.push(to);
      this.empty();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        // The path is not there (nothing to remove), or the trash was removed under us: made again next time.
        this.made = false;
        return;
      }
      this.removeInPlace(path); // e.g. on another file system: removed in place, as before
    }
  }

  private removeInPlace(path: string): void {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch (err) {
      this.warn(err, path);
    }
  }

  /** Queues what an earlier agent left in the trash (it died before emptying it). */
  sweep(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    this.made = true;
    for (const n of names) this.queue.push(join(this.dir, n));
    this.empty();
  }

  /** Resolves once every directory discarded so far has been removed (or given up on). */
  async drained(): Promise<void> {
    while (this.emptying) await this.emptying;
  }

  private empty(): void {
    if (this.emptying) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    this.emptying = rm(next, { recursive: true, force: true })
      .catch((e: unknown) => this.warn(e, next))
      .finally(() => {
        this.emptying = undefined;
        this.empty();
      });
  }
}
