/**
 * Read-only access to task sandboxes for /files/browse, /files/read and /files/download.
 * A path is served only if it is absolute, has no '..' or '.' component and no NUL, and
 * its real path (symlinks resolved) lies under the agent's sandbox root; anything else is
 * refused with a precise error, so neither '..', a symlink pointing out, an encoded trick
 * nor an absolute path elsewhere reaches outside the sandboxes.
 */
import { createReadStream, type ReadStream } from "node:fs";
import { lstat, open, readdir, realpath, stat } from "node:fs/promises";
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

function modeString(mode: number, dir: boolean): string {
  const bits = "rwxrwxrwx";
  let s = dir ? "d" : "-";
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : "-";
  return s;
}

export class SandboxFiles {
  private rootReal: string | undefined;

  /** `root`: the directory holding every sandbox (`<work_dir>/agents`). */
  constructor(readonly root: string) {}

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
      real = await realpath(path);
    } catch {
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
  async browse(path: string | undefined): Promise<FileEntry[]> {
    const real = await this.resolve(path);
    const st = await stat(real);
    const names = st.isDirectory() ? (await readdir(real)).sort() : [""];
    const out: FileEntry[] = [];
    for (const name of names) {
      const full = name ? join(real, name) : real;
      const e = await lstat(full).catch(() => undefined);
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
  }

  /**
   * Up to `length` bytes from `offset` (Mesos /files/read); offset -1 answers only the size
   * as the offset, so a tail can start at the end.
   */
  async read(path: string | undefined, offsetParam: string | undefined, lengthParam: string | undefined): Promise<{ data: string; offset: number }> {
    const offset = integerParam("offset", offsetParam, -1);
    const length = integerParam("length", lengthParam, 0);
    const real = await this.resolve(path);
    const st = await stat(real);
    if (st.isDirectory()) throw new DcosError(Code.INVALID_ARGUMENT, `'${path}' is a directory; use /files/browse`);
    if (offset === -1 || offsetParam === undefined) return { data: "", offset: st.size };
    const want = Math.min(lengthParam === undefined ? MAX_READ_LENGTH : length, MAX_READ_LENGTH, Math.max(0, st.size - offset));
    const buf = Buffer.alloc(want);
    const fh = await open(real, "r");
    try {
      const { bytesRead } = await fh.read(buf, 0, want, offset);
      return { data: buf.subarray(0, bytesRead).toString("utf8"), offset };
    } finally {
      await fh.close();
    }
  }

  /** A stream of the whole file, and its name for Content-Disposition. */
  async download(path: string | undefined): Promise<{ stream: ReadStream; name: string; size: number }> {
    const real = await this.resolve(path);
    const st = await stat(real);
    if (st.isDirectory()) throw new DcosError(Code.INVALID_ARGUMENT, `'${path}' is a directory; only files can be downloaded`);
    return { stream: createReadStream(real), name: real.split(sep).pop() ?? "file", size: st.size };
  }
}

function integerParam(name: string, value: string | undefined, min: number): number {
  if (value === undefined) return min;
  if (!/^-?\d+$/.test(value)) throw new DcosError(Code.INVALID_ARGUMENT, `'${name}' must be an integer, not '${value}'`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new DcosError(Code.INVALID_ARGUMENT, `'${name}' must be at least ${min}, not ${value}`);
  return n;
}
