import { dirname } from "node:path";
import type { AppendFile, FileSystem } from "../../src/runtime/file-system.js";

/** A file's bytes as written, and as they would survive a crash (what was last synced). */
class Inode {
  data = new Uint8Array(0);
  durable = new Uint8Array(0);
}

/** How much of a file's unsynced tail survives a crash (0 = none, the default). */
export type TornBytes = (path: string, unsynced: number) => number;

/**
 * An in-memory FileSystem that models what a crash keeps: file data only up to its last
 * fdatasync (plus, if asked, a torn prefix of the rest), and names only as of the last
 * fsync of their directory. Syncs can be held to model a crash between write and fsync.
 * Every operation is recorded in `ops`, for tests of the order of writes, syncs and renames.
 * Directories are implied by the files in them (mkdirp records that it was asked; a
 * directory with no file does not list); modes are not kept. Used by the Raft storage
 * tests and, as the agent's disk, by the agent tests on the manual clock.
 */
export class CrashFs implements FileSystem {
  private names = new Map<string, Inode>();
  private durableNames = new Map<string, Inode>();
  readonly ops: string[] = [];
  syncs = 0;
  private held: (() => void)[] | undefined;
  private holdWhich: ((path: string) => boolean) | undefined;
  private syncError: Error | undefined;

  /** Directories asked for with mkdirp (for tests: e.g. the sandboxes the agent made). */
  readonly dirs = new Set<string>();

  async mkdirp(dir: string): Promise<void> {
    this.dirs.add(dir);
  }

  /** The files in dir and the directories that hold files below it. */
  async list(dir: string): Promise<string[]> {
    const out = new Set<string>();
    for (const p of this.names.keys()) if (p.startsWith(dir + "/")) out.add(p.slice(dir.length + 1).split("/")[0]!);
    return [...out];
  }

  /** Paths of every file, sorted (for tests). */
  files(): string[] {
    return [...this.names.keys()].sort();
  }

  async remove(path: string): Promise<void> {
    for (const p of [...this.names.keys()]) {
      if (p !== path && !p.startsWith(path + "/")) continue;
      this.names.delete(p);
      this.ops.push(`unlink ${p}`);
    }
    for (const d of [...this.dirs]) if (d === path || d.startsWith(path + "/")) this.dirs.delete(d);
  }

  async readFile(path: string): Promise<Uint8Array> {
    return this.inode(path).data.slice();
  }

  async openAppend(path: string): Promise<AppendFile> {
    let inode = this.names.get(path);
    if (!inode) {
      inode = new Inode();
      this.names.set(path, inode);
      this.ops.push(`create ${path}`);
    }
    return new CrashFile(this, path, inode);
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    const inode = new Inode();
    inode.data = data.slice();
    this.names.set(path, inode);
    this.ops.push(`write ${path}`);
  }

  async syncFile(path: string): Promise<void> {
    await this.syncInode(this.inode(path), path);
  }

  async truncate(path: string, length: number): Promise<void> {
    const inode = this.inode(path);
    inode.data = inode.data.slice(0, length);
    this.ops.push(`truncate ${path} ${length}`);
  }

  async rename(from: string, to: string): Promise<void> {
    this.names.set(to, this.inode(from));
    this.names.delete(from);
    this.ops.push(`rename ${from} ${to}`);
  }

  async unlink(path: string): Promise<void> {
    this.inode(path);
    this.names.delete(path);
    this.ops.push(`unlink ${path}`);
  }

  async syncDir(dir: string): Promise<void> {
    for (const p of [...this.durableNames.keys()]) if (dirname(p) === dir) this.durableNames.delete(p);
    for (const [p, inode] of this.names) if (dirname(p) === dir) this.durableNames.set(p, inode);
    this.ops.push(`syncdir ${dir}`);
  }

  /** From now on, fdatasync calls wait until release() (a crash may come first). */
  holdSyncs(): void {
    this.held ??= [];
  }

  /** From now on, fdatasync calls of the files `which` picks wait until release(); the others go through. */
  holdSyncsOf(which: (path: string) => boolean): void {
    this.holdWhich = which;
    this.held ??= [];
  }

  /** From now on every fdatasync fails with error (a dying disk). */
  failSyncs(error: Error): void {
    this.syncError = error;
  }

  release(): void {
    const waiting = this.held ?? [];
    this.held = undefined;
    this.holdWhich = undefined;
    for (const w of waiting) w();
  }

  /** @internal */ async syncInode(inode: Inode, path: string): Promise<void> {
    if (this.held && (!this.holdWhich || this.holdWhich(path))) await new Promise<void>((r) => this.held!.push(r));
    if (this.syncError) throw this.syncError;
    inode.durable = inode.data.slice();
    this.syncs++;
    this.ops.push(`sync ${path}`);
  }

  /**
   * The file system as a machine that crashed now would find it after a reboot. This
   * instance is left as it was (its pending syncs never complete into the new one).
   */
  crash(torn: TornBytes = () => 0): CrashFs {
    const after = new CrashFs();
    const copies = new Map<Inode, Inode>();
    for (const [path, inode] of this.durableNames) {
      let copy = copies.get(inode);
      if (!copy) {
        copy = new Inode();
        const unsynced = startsWith(inode.data, inode.durable) ? inode.data.length - inode.durable.length : 0;
        const keep = Math.min(unsynced, Math.max(0, torn(path, unsynced)));
        copy.data = keep > 0 ? inode.data.slice(0, inode.durable.length + keep) : inode.durable.slice();
        copy.durable = copy.data.slice();
        copies.set(inode, copy);
      }
      after.names.set(path, copy);
      after.durableNames.set(path, copy);
    }
    return after;
  }

  /** A copy of the current state, everything durable (to try many damages on one log). */
  clone(): CrashFs {
    const after = new CrashFs();
    for (const [path, inode] of this.names) {
      const copy = new Inode();
      copy.data = inode.data.slice();
      copy.durable = inode.data.slice();
      after.names.set(path, copy);
      after.durableNames.set(path, copy);
    }
    return after;
  }

  /** Replaces a file's bytes directly (damage for tests). */
  setBytes(path: string, data: Uint8Array): void {
    const inode = this.inode(path);
    inode.data = data.slice();
    inode.durable = data.slice();
  }

  bytes(path: string): Uint8Array {
    return this.inode(path).data;
  }

  private inode(path: string): Inode {
    const inode = this.names.get(path);
    if (!inode) throw Object.assign(new Error(`ENOENT: no such file '${path}'`), { code: "ENOENT" });
    return inode;
  }
}

class CrashFile implements AppendFile {
  constructor(
    private readonly fs: CrashFs,
    readonly path: string,
    private readonly inode: Inode,
  ) {}

  get size(): number {
    return this.inode.data.length;
  }

  async append(chunks: readonly Uint8Array[]): Promise<void> {
    let total = this.inode.data.length;
    for (const c of chunks) total += c.length;
    const next = new Uint8Array(total);
    next.set(this.inode.data, 0);
    let at = this.inode.data.length;
    for (const c of chunks) {
      next.set(c, at);
      at += c.length;
    }
    this.inode.data = next;
  }

  sync(): Promise<void> {
    return this.fs.syncInode(this.inode, this.path);
  }

  /** As O_DSYNC: the write, then its sync (held, failing or cut by a crash like any other). */
  async appendDurable(chunks: readonly Uint8Array[]): Promise<void> {
    await this.append(chunks);
    await this.sync();
  }

  async close(): Promise<void> {}
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > data.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}
