/**
 * The fetcher: before a container starts, the URIs of its CommandInfo are brought into its
 * sandbox, as Mesos's fetcher does. `http://` and `https://` are downloaded; `file://` URIs
 * and absolute paths are copied from the agent's file system, but only regular files that
 * every user on the host may read (o+r, and o+x on every directory above): the agent runs
 * as root and must not hand a task a file the task's own user could not open. `extract`
 * unpacks tar archives (.tar, .tgz, .tar.gz, .tbz2, .tar.bz2, .txz, .tar.xz) with the host's
 * `tar`, .zip with `unzip`, and gunzips a plain .gz, beside the fetched file; `executable`
 * makes the file 0755 (and is never extracted); `output_file` renames it (a path inside the
 * sandbox). `cache` is accepted and ignored: every launch fetches afresh. Each URI is
 * bounded in size and time; a failure names the URI and the reason.
 */
import { constants, createReadStream, createWriteStream } from "node:fs";
import { chmod, chown, lstat, mkdir, open as openFile, readdir, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, normalize, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { createGunzip } from "node:zlib";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Code, DcosError } from "../runtime/error.js";
import { hostCommand } from "./host-command.js";
import { isRoot, resolveUser, type UserIds } from "./users.js";

const run = promisify(execFile);

export interface FetchUri {
  value: string;
  /** Unpack an archive (Mesos: true unless said otherwise). */
  extract?: boolean;
  executable?: boolean;
  cache?: boolean;
  outputFile?: string;
}

export interface FetchOptions {
  /** Bytes one URI may bring (1 GiB by default). */
  maxBytes?: number;
  /** Time one URI may take, download and extraction (10 min by default). */
  timeoutMs?: number;
  /** Owner of what is fetched (the task's user when the agent switches user). */
  owner?: UserIds;
}

export const DEFAULT_FETCH_MAX_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_FETCH_TIMEOUT_MS = 10 * 60 * 1000;
export const MAX_FETCH_URIS = 64;

const TAR = /\.(tar|tgz|tar\.gz|tbz2|tar\.bz2|txz|tar\.xz)$/i;

function fail(uri: string, reason: string): DcosError {
  return new DcosError(Code.FAILED_PRECONDITION, `Failed to fetch '${uri}': ${reason}`);
}

/** Where the fetched file goes: output_file (inside the sandbox) or the URI's last path part. */
function destination(sandbox: string, uri: FetchUri, path: string): string {
  const name = uri.outputFile || basename(path);
  if (!name || name === "." || name === ".." || name === "/") throw fail(uri.value, "the URI names no file (give output_file)");
  if (isAbsolute(name)) throw fail(uri.value, `output_file '${name}' must be relative to the sandbox`);
  const normal = normalize(name);
  if (normal === ".." || normal.startsWith(`..${sep}`)) throw fail(uri.value, `output_file '${name}' leaves the sandbox`);
  return join(sandbox, normal);
}

/** Stops a stream that brings more than `max` bytes. */
function limit(max: number, uri: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) done(fail(uri, `it is larger than the limit of ${max} bytes`));
      else done(null, chunk);
    },
  });
}

/** A local file any user may read: a regular file with o+r, o+x on every directory above it. */
async function checkWorldReadable(uri: string, path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    throw fail(uri, (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file on the agent" : (err as Error).message);
  }
  if (!st.isFile()) throw fail(uri, "not a regular file (symbolic links, directories and devices are not fetched)");
  if ((st.mode & 0o004) === 0) throw fail(uri, "the file is not readable by every user on the agent");
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const d = await stat(dir);
    if ((d.mode & 0o001) === 0) throw fail(uri, `directory ${dir} is not searchable by every user on the agent`);
    if (dir === dirname(dir)) break;
  }
}

async function openUri(uri: string, signal: AbortSignal): Promise<{ stream: Readable; path: string }> {
  if (/^https?:\/\//i.test(uri)) {
    const res = await fetch(uri, { signal, redirect: "follow" });
    if (!res.ok || !res.body) throw fail(uri, `HTTP ${res.status} ${res.statusText}`.trim());
    return { stream: Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), path: decodeURIComponent(new URL(uri).pathname) };
  }
  let path: string;
  if (/^file:\/\//i.test(uri)) path = decodeURIComponent(new URL(uri).pathname);
  else if (isAbsolute(uri)) path = uri;
  else throw fail(uri, "only http://, https://, file:// URIs and absolute paths can be fetched");
  await checkWorldReadable(uri, path);
  // O_NOFOLLOW: a file swapped for a symbolic link after the check is refused.
  const handle = await openFile(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  return { stream: handle.createReadStream(), path };
}

async function extract(uri: string, file: string, sandbox: string, signal: AbortSignal): Promise<void> {
  const opts = { signal, maxBuffer: 1024 * 1024 };
  try {
    if (TAR.test(file)) {
      await run(hostCommand("tar", "tar"), ["-x", "-f", file, "-C", sandbox, "--no-same-owner", "--no-same-permissions"], opts);
    } else if (/\.zip$/i.test(file)) {
      await run(hostCommand("unzip", "unzip"), ["-q", "-o", file, "-d", sandbox], opts);
    } else if (/\.gz$/i.test(file)) {
      await pipeline(createReadStream(file), createGunzip(), createWriteStream(file.replace(/\.gz$/i, "")), { signal });
    }
  } catch (err) {
    if (err instanceof DcosError) throw fail(uri, err.message);
    const e = err as Error & { stderr?: string };
    throw fail(uri, `could not extract it: ${(e.stderr || e.message).trim().slice(0, 500)}`);
  }
}

async function chownTree(path: string, owner: UserIds): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return;
  await chown(path, owner.uid, owner.gid);
  if (!st.isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), owner);
}

/** Brings every URI into the sandbox, in order; the first failure ends it (a DcosError naming the URI). */
export async function fetchUris(uris: readonly FetchUri[], sandbox: string, options: FetchOptions = {}): Promise<void> {
  if (uris.length === 0) return;
  if (uris.length > MAX_FETCH_URIS) throw new DcosError(Code.INVALID_ARGUMENT, `A command may fetch at most ${MAX_FETCH_URIS} URIs (got ${uris.length})`);
  const maxBytes = options.maxBytes ?? DEFAULT_FETCH_MAX_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const before = new Set(options.owner ? await readdir(sandbox) : []);
  for (const uri of uris) {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const { stream, path } = await openUri(uri.value, signal);
      const dest = destination(sandbox, uri, path);
      await mkdir(dirname(dest), { recursive: true });
      await pipeline(stream, limit(maxBytes, uri.value), createWriteStream(dest, { mode: 0o644 }), { signal });
      if (uri.executable) await chmod(dest, 0o755);
      else if (uri.extract ?? true) await extract(uri.value, dest, sandbox, signal);
    } catch (err) {
      if (signal.aborted) throw fail(uri.value, `it took longer than ${timeoutMs} ms`);
      if (err instanceof DcosError) throw err;
      throw fail(uri.value, (err as Error).message);
    }
  }
  if (options.owner) {
    for (const entry of await readdir(sandbox)) if (!before.has(entry)) await chownTree(join(sandbox, entry), options.owner);
  }
}

/** Who owns what is fetched for a container run as `user`: that user when the agent (root) switches to it. */
export async function fetchOwner(user: string): Promise<UserIds | undefined> {
  if (!isRoot()) return undefined;
  const ids = await resolveUser(user);
  return typeof process.getuid === "function" && ids.uid === process.getuid() ? undefined : ids;
}
