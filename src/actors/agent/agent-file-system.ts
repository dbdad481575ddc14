/**
 * The agent's disk (the default of AgentOptions.fs): node:fs with every call but the
 * flushes synchronous. Opening, writing a small file into the page cache, appending a
 * status update record, renaming, closing and making a directory are a few µs of kernel
 * work each; through the libuv thread pool (4 threads) each waited behind every fsync under
 * way, and with 20 launches in flight a sandbox's mkdir or a checkpoint's rename waited tens
 * of ms (the containers bench's --stages). Only fdatasync/fsync, which wait for the disk,
 * stay on the thread pool, and ftruncate and remove, which free blocks (with the `discard`
 * mount option a truncation held the agent's loop about 1 ms per file: session 10). The
 * durability is the same: the same calls in the same order.
 * (Raft's storage keeps runtime/file-system.ts's NodeFileSystem.)
 */
import * as fs from "node:fs";
import { promisify } from "node:util";
import { dropBytes, NodeFileSystem, type AppendFile } from "../../runtime/file-system.js";

const fdatasync = promisify(fs.fdatasync);
const fsync = promisify(fs.fsync);
const ftruncate = promisify(fs.ftruncate);

/** Above this a file is written through the thread pool (a write that size is not a few µs). */
const SYNC_WRITE_MAX_BYTES = 256 * 1024;

class AgentAppendFile implements AppendFile {
  constructor(
    readonly path: string,
    private readonly fd: number,
    public size: number,
  ) {}

  async append(chunks: readonly Uint8Array[]): Promise<void> {
    let total = 0;
    for (const c of chunks) total += c.length;
    const end = this.size + total;
    let pending = chunks.slice();
    // writev may write less than asked; continue from where it stopped.
    while (pending.length > 0) {
      const written = fs.writevSync(this.fd, pending as NodeJS.ArrayBufferView[], this.size);
      if (written === 0) break;
      this.size += written;
      pending = dropBytes(pending, written);
    }
    if (this.size !== end) throw new Error(`Short write to ${this.path}: ${this.size} of ${end} bytes`);
  }

  sync(): Promise<void> {
    return fdatasync(this.fd);
  }

  async close(): Promise<void> {
    fs.closeSync(this.fd);
  }
}

export class AgentFileSystem extends NodeFileSystem {
  override async mkdirp(dir: string, mode?: number): Promise<void> {
    fs.mkdirSync(dir, { recursive: true, mode });
  }

  override async openAppend(path: string, mode = 0o644): Promise<AppendFile> {
    const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT, mode);
    return new AgentAppendFile(path, fd, fs.fstatSync(fd).size);
  }

  override async writeFile(path: string, data: Uint8Array, mode?: number): Promise<void> {
    if (data.length > SYNC_WRITE_MAX_BYTES) return super.writeFile(path, data, mode);
    fs.writeFileSync(path, data, { mode });
  }

  override syncFile(path: string): Promise<void> {
    return withReadFd(path, fdatasync);
  }

  /** Opened and closed here; only the ftruncate, which frees blocks (it can wait for the device), through the thread pool: one trip, not fs.promises' three. */
  override async truncate(path: string, length: number): Promise<void> {
    const fd = fs.openSync(path, fs.constants.O_WRONLY);
    try {
      await ftruncate(fd, length);
    } finally {
      fs.closeSync(fd);
    }
  }

  override async rename(from: string, to: string): Promise<void> {
    fs.renameSync(from, to);
  }

  override async unlink(path: string): Promise<void> {
    fs.unlinkSync(path);
  }

  override syncDir(dir: string): Promise<void> {
    return withReadFd(dir, fsync);
  }
}

async function withReadFd(path: string, flush: (fd: number) => Promise<void>): Promise<void> {
  const fd = fs.openSync(path, fs.constants.O_RDONLY);
  try {
    await flush(fd);
  } finally {
    fs.closeSync(fd);
  }
}
