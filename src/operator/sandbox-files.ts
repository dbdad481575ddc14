/**
 * Read-only access to task sandboxes for /files/browse, /files/read and /files/download.
 * A path is served only if it is absolute, has no '..' or '.' component and no NUL, and
 * what is finally opened lies under the agent's sandbox root. Confinement is by file
 * descriptor, never check-then-open: the path's real path is opened with O_NOFOLLOW (and
 * O_NONBLOCK, so a FIFO cannot hold the open), then the real path of the opened descriptor
 * (/proc/self/fd/N) is checked again, so a task that swaps a directory for a symlink
 * between the check and the open gets its request refused instead of the host's file.
 * Directories are listed through their descriptor; only regular files are read or
 * downloaded; every operation is bounded in time (DEADLINE_EXCEEDED).
 *
 * A read at the end of a file may wait for it to grow (`wait`, a long poll: what follows
 * a task's output as it is written): the open descriptor is re-checked with fstat when
 * inotify (fs.watch on its real path) says the file changed, every second in any case (every
 * 250 ms when no watch can be set), and once more at the end of the wait; the watch is only
 * a hint, so what is read is still the checked descriptor.
 */
import { constants, watch, type FSWatcher, type ReadStream } from "node:fs";
import { lstat, open, readdir, readlink, realpath, type FileHandle } from "node:fs/promises";
import { isAbsolute, join, sep } from "node:path";
import { Code, DcosError } from "../runtime/error.js";

export interface FileEntry {
  path: string;
  size: number;
  mtime: number;
  mode: string;
  nlink: number;
  uid: number;
  gid: number;
}

/** Largest chunk one /files/read answers with. */
export const MAX_READ_LENGTH = 4 * 1024 * 1024;
/** Longest a /files/read may wait for its file to grow (`wait`, ms). */
export const MAX_READ_WAIT_MS = 30_000;

/** A read's wait for the file to grow past its offset: at most `ms`, ended early by `signal`. */
export interface ReadWait {
  ms: number;
  signal: AbortSignal;
}

function modeString(mode: number, dir: boolean): string {
  const bits = "rwxrwxrwx";
  let s = dir ? "d" : "-";
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : "-";
  return s;
}

/** The longest any one sandbox file operation may take (default). */
export const DEFAULT_FILE_OP_TIMEOUT_MS = 5000;

/** What is open: the descriptor and what it is, checked to lie inside the root. */
interface Opened {
  fh: FileHandle;
  /** The real path of the descriptor (from /proc/self/fd). */
  real: string;
  size: number;
  directory: boolean;
  regular: boolean;
}

/**
 * Decides whether the caller may open a path: given the framework whose sandbox holds it
 * (undefined above any framework's directory), throws PERMISSION_DENIED or returns.
 */
export type SandboxCheck = (frameworkId: string | undefined, path: string) => void;

export class SandboxFiles {
  private rootReal: string | undefined;

  /** `root`: the directory holding every sandbox (`<work_dir>/agents`). */
  constructor(
    readonly root: string,
    private readonly timeoutMs = DEFAULT_FILE_OP_TIMEOUT_MS,
  ) {}

  /** Runs one file operation, DEADLINE_EXCEEDED past the bound (its descriptor is closed when it ends). */
  private async bounded<T>(what: string, op: Promise<T>, cleanup?: (value: T) => Promise<void>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        late = true;
        reject(new DcosError(Code.DEADLINE_EXCEEDED, `${what} took longer than ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([op, deadline]);
    } finally {
      clearTimeout(timer);
      if (late && cleanup) void op.then(cleanup, () => undefined);
    }
  }

  /**
   * Opens `path` confined to the root: the checked real path with O_NOFOLLOW|O_NONBLOCK,
   * then the descriptor's own real path checked again.
   */
  private async openConfined(path: string | undefined, check?: SandboxCheck): Promise<Opened> {
    const real = await this.resolve(path);
    check?.(this.frameworkOf(real), path!);
    let fh: FileHandle;
    try {
      fh = await this.bounded(`Opening '${path}'`, open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK), (h) => h.close());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ELOOP: the last component became a symlink after the check (O_NOFOLLOW refused it).
      if (code === "ELOOP") throw this.outside(path!);
      if (code === "ENOENT" || code === "ENOTDIR") throw new DcosError(Code.NOT_FOUND, `No such file or directory: ${path}`);
      throw err;
    }
    try {
      const root = this.rootReal!;
      const actual = await this.bounded(`Checking '${path}'`, readlink(`/proc/self/fd/${fh.fd}`));
      if (!this.inside(actual, root)) throw this.outside(path!);
      // The opened file is checked again: a swapped path cannot move it into another framework's sandbox.
      check?.(this.frameworkOf(actual), path!);
      const st = await this.bounded(`Reading the status of '${path}'`, fh.stat());
      return { fh, real: actual, size: st.size, directory: st.isDirectory(), regular: st.isFile() };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** The framework whose sandboxes hold a real path under the root (`<agent>/frameworks/<fw>/…`). */
  private frameworkOf(real: string): string | undefined {
    const parts = real.slice(this.rootReal!.length).split(sep).filter((p) => p !== "");
    return parts[1] === "frameworks" && parts[2] ? parts[2] : undefined;
  }

  private async openFile(path: string | undefined, use: string, check?: SandboxCheck): Promise<Opened> {
    const opened = await this.openConfined(path, check);
    if (opened.regular) return opened;
    await opened.fh.close();
    if (opened.directory) throw new DcosError(Code.INVALID_ARGUMENT, `'${path}' is a directory; ${use}`);
    throw new DcosError(Code.INVALID_ARGUMENT, `'${path}' is not a regular file (a FIFO, socket or device); only regular files are served`);
  }

  /** The real path of `path` after every check; throws INVALID_ARGUMENT, PERMISSION_DENIED or NOT_FOUND. */
  async resolve(path: string | undefined): Promise<string> {
    if (path === undefined || path === "") throw new DcosError(Code.INVALID_ARGUMENT, "Missing the 'path' query parameter");
    if (path.includes("\0")) throw new DcosError(Code.INVALID_ARGUMENT, "The path contains a NUL byte");
    if (!isAbsolute(path)) throw new DcosError(Code.INVALID_ARGUMENT, `The path '${path}' is not absolute`);
    if (path.split("/").some((part) => part === ".." || part === ".")) {
      throw new DcosError(Code.INVALID_ARGUMENT, `The path '${path}' contains a '.' or '..' component`);
    }
    const root = (this.rootReal ??= await realpath(this.root).catch(() => this.root));
    let real: string;
    try {
      real = await this.bounded(`Resolving '${path}'`, realpath(path));
    } catch (err) {
      if (DcosError.is(err)) throw err;
      if (!this.inside(path, root)) throw this.outside(path);
      throw new DcosError(Code.NOT_FOUND, `No such file or directory: ${path}`);
    }
    if (!this.inside(real, root)) throw this.outside(path);
    return real;
  }

  private inside(path: string, root: string): boolean {
    return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
  }

  private outside(path: string): DcosError {
    return new DcosError(Code.PERMISSION_DENIED, `The path '${path}' is outside the sandboxes under ${this.root}`);
  }

  /** The entries of a directory (or the file itself), as Mesos's /files/browse lists them. */
  async browse(path: string | undefined, check?: SandboxCheck): Promise<FileEntry[]> {
    const opened = await this.openConfined(path, check);
    try {
      // Names are read and looked up through the open descriptor, not the path again.
      const dir = `/proc/self/fd/${opened.fh.fd}`;
      const names = opened.directory ? (await this.bounded(`Listing '${path}'`, readdir(dir))).sort() : [""];
      const out: FileEntry[] = [];
      for (const name of names) {
        const e = await this.bounded(`Reading the status of '${name}'`, lstat(name ? join(dir, name) : dir)).catch(() => undefined);
        if (!e) continue;
        out.push({
          path: name ? join(path!, name) : path!,
          size: e.size,
          mtime: Math.floor(e.mtimeMs / 1000),
          mode: modeString(e.mode, e.isDirectory()),
          nlink: e.nlink,
          uid: e.uid,
          gid: e.gid,
        });
      }
      return out;
    } finally {
      await opened.fh.close();
    }
  }

  /**
   * Up to `length` bytes from `offset` (Mesos /files/read); offset -1 answers only the size
   * as the offset, so a tail can start at the end.
   */
  async read(path: string | undefined, offsetParam: string | undefined, lengthParam: string | undefined, check?: SandboxCheck, wait?: ReadWait): Promise<{ data: string; offset: number }> {
    const offset = integerParam("offset", offsetParam, -1);
    const length = integerParam("length", lengthParam, 0);
    const { fh, size: sizeAtOpen, real } = await this.openFile(path, "use /files/browse", check);
    try {
      if (offset === -1 || offsetParam === undefined) return { data: "", offset: sizeAtOpen };
      const size = wait && wait.ms > 0 && offset >= sizeAtOpen ? await grownPast(fh, real, offset, wait) : sizeAtOpen;
      const want = Math.min(lengthParam === undefined ? MAX_READ_LENGTH : length, MAX_READ_LENGTH, Math.max(0, size - offset));
      const buf = Buffer.alloc(want);
      const { bytesRead } = await this.bounded(`Reading '${path}'`, fh.read(buf, 0, want, offset));
      return { data: buf.subarray(0, bytesRead).toString("utf8"), offset };
    } finally {
      await fh.close();
    }
  }

  /** A stream of the whole file, and its name for Content-Disposition. */
  async download(path: string | undefined, check?: SandboxCheck): Promise<{ stream: ReadStream; name: string; size: number }> {
    const { fh, real, size } = await this.openFile(path, "only files can be downloaded", check);
    // The stream reads the checked descriptor and closes it at its end.
    return { stream: fh.createReadStream({ autoClose: true }), name: real.split(sep).pop() ?? "file", size };
  }
}

/**
 * Resolves with the file's size once it is past `offset`, or `offset` when the wait ends
 * (its time, or its signal) without that.
 */
function grownPast(fh: FileHandle, real: string, offset: number, wait: ReadWait): Promise<number> {
  return new Promise((resolve) => {
    let done = false;
    let watcher: FSWatcher | undefined;
    const finish = (size: number): void => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(poll);
      clearTimeout(timer);
      wait.signal.removeEventListener("abort", aborted);
      resolve(size);
    };
    const check = (): Promise<void> =>
      fh.stat().then(
        (st) => {
          if (st.size > offset) finish(st.size);
        },
        () => finish(offset),
      );
    const aborted = (): void => finish(offset);
    try {
      watcher = watch(real, { persistent: false }, () => void check());
      watcher.on("error", () => undefined);
    } catch {
      watcher = undefined; // no inotify watch left: the poll below does
    }
    const poll = setInterval(() => void check(), watcher ? 1000 : 250);
    const timer = setTimeout(() => void check().finally(() => finish(offset)), wait.ms);
    wait.signal.addEventListener("abort", aborted, { once: true });
    if (wait.signal.aborted) aborted();
    // It may have grown between the open and the watch.
    void check();
  });
}

function integerParam(name: string, value: string | undefined, min: number): number {
  if (value === undefined) return min;
  if (!/^-?\d+$/.test(value)) throw new DcosError(Code.INVALID_ARGUMENT, `'${name}' must be an integer, not '${value}'`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new DcosError(Code.INVALID_ARGUMENT, `'${name}' must be at least ${min}, not ${value}`);
  return n;
}
