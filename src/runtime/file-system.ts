import * as fs from "node:fs";
import { promisify } from "node:util";

/**
 * The file operations durable state needs (the Raft write-ahead log and snapshotter, the
 * agent's checkpoints, status update streams and sandboxes), behind a seam, so tests can
 * run on memory and model a crash: data written but not yet synced is lost (or torn), and
 * names created or renamed but not yet made durable by a directory sync disappear
 * (test/support/crash-fs.ts). `mode` is the permission of what is created (default 0o755
 * for directories, 0o644 for files, less the umask).
 */
export interface FileSystem {
  /** Creates dir and its missing parents. */
  mkdirp(dir: string, mode?: number): Promise<void>;
  /** File names in dir (not paths); [] if dir does not exist. */
  list(dir: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  /** Opens path for appending, creating it (empty) if missing. */
  openAppend(path: string, mode?: number): Promise<AppendFile>;
  /** Creates or replaces path with data, without syncing anything. */
  writeFile(path: string, data: Uint8Array, mode?: number): Promise<void>;
  /** Flushes a whole file's data to disk (fdatasync). */
  syncFile(path: string): Promise<void>;
  truncate(path: string, length: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes a file or a directory with everything in it; nothing if path does not exist (rm -rf). */
  remove(path: string): Promise<void>;
  /** Makes creations, renames and deletions in dir durable (fsync of the directory). */
  syncDir(dir: string): Promise<void>;
}

/** A file open for appending. */
export interface AppendFile {
  readonly path: string;
  /** Bytes in the file, including what was written but not yet synced. */
  readonly size: number;
  /** Appends the chunks in order, in one write where the OS allows. */
  append(chunks: readonly Uint8Array[]): Promise<void>;
  /** fdatasync: returns once every appended byte is on disk. */
  sync(): Promise<void>;
  /**
   * Appends the chunks and returns once they are on disk, as append then sync would when
   * everything appended before was synced already; where it is implemented it costs one
   * trip to the thread pool instead of two (the real file system writes through a second
   * descriptor opened O_DSYNC: the write and its fdatasync are one system call).
   */
  appendDurable?(chunks: readonly Uint8Array[]): Promise<void>;
  close(): Promise<void>;
}

const writev = promisify(fs.writev);
const fdatasync = promisify(fs.fdatasync);
const fsync = promisify(fs.fsync);
const close = promisify(fs.close);
const open = promisify(fs.open);

class NodeAppendFile implements AppendFile {
  constructor(
    readonly path: string,
    private readonly fd: number,
    public size: number,
  ) {}

  /** A descriptor of the same file opened O_DSYNC (appendDurable), opened on first use. */
  private dsyncFd: number | undefined;

  append(chunks: readonly Uint8Array[]): Promise<void> {
    return this.writeAll(this.fd, chunks);
  }

  sync(): Promise<void> {
    return fdatasync(this.fd);
  }

  async appendDurable(chunks: readonly Uint8Array[]): Promise<void> {
    this.dsyncFd ??= await open(this.path, fs.constants.O_WRONLY | fs.constants.O_DSYNC);
    await this.writeAll(this.dsyncFd, chunks);
  }

  async close(): Promise<void> {
    if (this.dsyncFd !== undefined) await close(this.dsyncFd);
    this.dsyncFd = undefined;
    await close(this.fd);
  }

  private async writeAll(fd: number, chunks: readonly Uint8Array[]): Promise<void> {
    let pending = chunks.slice();
    let total = 0;
    for (const c of pending) total += c.length;
    const end = this.size + total;
    // writev may write less than asked; continue from where it stopped.
    while (pending.length > 0) {
      const { bytesWritten: written } = await writev(fd, pending as NodeJS.ArrayBufferView[], this.size);
      this.size += written;
      pending = dropBytes(pending, written);
    }
    if (this.size !== end) throw new Error(`Short write to ${this.path}: ${this.size} of ${end} bytes`);
  }
}

/** The chunks without their first n bytes (what a short writev left to write). */
export function dropBytes(chunks: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) {
    if (n >= c.length) {
      n -= c.length;
      continue;
    }
    out.push(n > 0 ? c.subarray(n) : c);
    n = 0;
  }
  return out;
}

/** The real file system (node:fs), with fdatasync for data and fsync for directories. */
export class NodeFileSystem implements FileSystem {
  async mkdirp(dir: string, mode?: number): Promise<void> {
    await fs.promises.mkdir(dir, { recursive: true, mode });
  }

  async list(dir: string): Promise<string[]> {
    try {
      return await fs.promises.readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    return fs.promises.readFile(path);
  }

  async openAppend(path: string, mode = 0o644): Promise<AppendFile> {
    const fd = await open(path, fs.constants.O_WRONLY | fs.constants.O_CREAT, mode);
    const { size } = fs.fstatSync(fd);
    return new NodeAppendFile(path, fd, size);
  }

  async writeFile(path: string, data: Uint8Array, mode?: number): Promise<void> {
    await fs.promises.writeFile(path, data, { mode });
  }

  syncFile(path: string): Promise<void> {
    return withReadFd(path, fdatasync);
  }

  async truncate(path: string, length: number): Promise<void> {
    await fs.promises.truncate(path, length);
  }

  async rename(from: string, to: string): Promise<void> {
    await fs.promises.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    await fs.promises.unlink(path);
  }

  async remove(path: string): Promise<void> {
    await fs.promises.rm(path, { recursive: true, force: true });
  }

  syncDir(dir: string): Promise<void> {
    return withReadFd(dir, fsync);
  }
}

async function withReadFd(path: string, fn: (fd: number) => Promise<void>): Promise<void> {
  const fd = await open(path, fs.constants.O_RDONLY);
  try {
    await fn(fd);
  } finally {
    await close(fd);
  }
}
