/**
 * The fast start of `dcos-node run`: instead of resolving and compiling a few hundred ES
 * modules (the CLI, gRPC, protobuf, the generated code), main.ts loads one CommonJS file
 * that esbuild made of them at build time, dist/cli/run.cjs (`npm run build:cli`, entry
 * run-main.ts), and compiles it with V8's code cache: the machine code of every function
 * the previous run compiled, written at that run's exit. Measured in docs/task-launch.md.
 *
 * Safety: the bundle is used only when it is not older than the last TypeScript build
 * (dist/.tsbuildinfo): after a `tsc` alone the modules are run, never stale code. The cache
 * is a file per bundle build, Node version and flags, under DCOS_NODE_COMPILE_CACHE (a
 * directory; `0` turns the cache off) or $XDG_CACHE_HOME/dcos-node (~/.cache/dcos-node),
 * created 0700 and written 0600 through a rename. It starts with a SHA-256 of its payload,
 * checked before V8 sees it; a file that fails the check, is not ours (another owner) or
 * that V8 rejects is ignored and replaced at exit. Nothing here throws: no cache directory,
 * a read-only one, or any error means the run compiles without the cache.
 * DCOS_NODE_BUNDLE=0 runs the modules instead of the bundle.
 *
 * On Node ≥ 22 `module.enableCompileCache()` exists, but it stores only what was compiled
 * before the module ran (78 KB here against 1 MB written after a run), and was slower than
 * this in the same measurement; the same code serves Node 20, 22 and 24.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";
import type { RunMark } from "./run-timing.js";

export const BUNDLE_ENV = "DCOS_NODE_BUNDLE";
export const COMPILE_CACHE_ENV = "DCOS_NODE_COMPILE_CACHE";

/** What a bundle exports (run-main.ts). */
export interface CliEntry {
  main(argv: string[]): Promise<void>;
}

/** How the code cache served a load: off, none yet, used, refused by V8, or failing our check. */
export type CacheOutcome = "off" | "miss" | "hit" | "rejected" | "corrupt";

const MAGIC = Buffer.from("DCNV8C1\n");
const DIGEST_BYTES = 32;
const EXTENSION = ".v8cache";

/** dist/ of this build (this file is dist/src/cli/cli-bundle.js). */
const DIST = fileURLToPath(new URL("../../", import.meta.url));

/** Where the build puts the bundle of `command` (`npm run build:cli`). */
export function cliBundlePath(command: string): string {
  return join(DIST, "cli", `${command}.cjs`);
}

/** The bundle's path when it can be used: present, and built after the last tsc run. */
export function usableBundle(file: string, tsBuildInfo = join(DIST, ".tsbuildinfo")): string | undefined {
  try {
    const bundle = statSync(file);
    const info = statSync(tsBuildInfo, { throwIfNoEntry: false });
    return info === undefined || bundle.mtimeMs >= info.mtimeMs ? file : undefined;
  } catch {
    return undefined;
  }
}

/** The cache directory from the environment, or undefined when the cache is off. */
export function cacheDirectory(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = env[COMPILE_CACHE_ENV];
  if (given !== undefined) return given === "" || given === "0" ? undefined : given;
  try {
    return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "dcos-node");
  } catch {
    return undefined;
  }
}

function digest(bytes: Uint8Array): Buffer {
  return createHash("sha256").update(bytes).digest();
}

/** Cache files of `bundle` for this Node version start with this (one per version is kept). */
function cachePrefix(bundle: string): string {
  return `${basename(bundle)}-${process.version}-`;
}

/** The cache file of this bundle build for this Node (version, architecture, flags). */
function cacheFile(dir: string, bundle: string): string {
  const s = statSync(bundle);
  const key = createHash("sha256")
    .update(JSON.stringify([bundle, s.size, s.mtimeMs, s.ino, process.version, process.arch, process.execArgv]))
    .digest("hex")
    .slice(0, 20);
  return join(dir, `${cachePrefix(bundle)}${key}${EXTENSION}`);
}

/** The payload of a cache file when it is ours and intact; "corrupt" otherwise, undefined when absent. */
function readCache(file: string): Buffer | "corrupt" | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const uid = process.getuid?.();
    if (uid !== undefined && fstatSync(fd).uid !== uid) return "corrupt";
    const bytes = readFileSync(fd);
    if (bytes.length <= MAGIC.length + DIGEST_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return "corrupt";
    const payload = bytes.subarray(MAGIC.length + DIGEST_BYTES);
    return digest(payload).equals(bytes.subarray(MAGIC.length, MAGIC.length + DIGEST_BYTES)) ? payload : "corrupt";
  } catch {
    return "corrupt";
  } finally {
    closeSync(fd);
  }
}

/** Writes the cache through a temporary file and a rename, removing older builds' caches (same bundle name and Node version); errors are ignored. */
function writeCache(file: string, prefix: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, Buffer.concat([MAGIC, digest(data), data]), { mode: 0o600 });
    renameSync(tmp, file);
    for (const old of readdirSync(dir)) {
      if (old.startsWith(prefix) && old.endsWith(EXTENSION) && old !== basename(file)) rmSync(join(dir, old), { force: true });
    }
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // No directory to write in at all.
    }
  }
}

/**
 * Compiles and runs a CommonJS bundle with the code cache in `cacheDir` (none: no cache)
 * and returns its exports. A cache missing, rejected or corrupt is written at this
 * process's exit, with what the run compiled by then.
 */
export function loadBundle(file: string, cacheDir: string | undefined): { exports: unknown; cache: CacheOutcome } {
  let target: string | undefined;
  let cached: Buffer | "corrupt" | undefined;
  if (cacheDir !== undefined) {
    try {
      target = cacheFile(cacheDir, file);
      cached = readCache(target);
    } catch {
      target = undefined;
    }
  }
  const source = readFileSync(file, "utf8");
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(Buffer.isBuffer(cached) ? { cachedData: cached } : {}),
  });
  const cache: CacheOutcome = target === undefined ? "off" : cached === undefined ? "miss" : cached === "corrupt" ? "corrupt" : script.cachedDataRejected ? "rejected" : "hit";
  if (target !== undefined && cache !== "hit") {
    const to = target;
    process.once("exit", () => writeCache(to, cachePrefix(file), script.createCachedData()));
  }
  const module = { exports: {} as unknown };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, cache };
}

/**
 * The bundled entry of `command` (dist/cli/<command>.cjs) when it is there, fresh and
 * loads; undefined (the caller runs the modules) otherwise, or with DCOS_NODE_BUNDLE=0.
 * `mark` gets `cli:<cache outcome>`.
 */
export function loadCliBundle(command: string, mark?: RunMark, env: NodeJS.ProcessEnv = process.env): CliEntry | undefined {
  if (env[BUNDLE_ENV] === "0") return undefined;
  const file = usableBundle(cliBundlePath(command));
  if (file === undefined) return undefined;
  try {
    const { exports, cache } = loadBundle(file, cacheDirectory(env));
    const entry = exports as Partial<CliEntry>;
    if (typeof entry.main !== "function") throw new Error("it exports no main()");
    mark?.(`cli:${cache}`);
    return entry as CliEntry;
  } catch (err) {
    process.stderr.write(`dcos-node: the bundled ${command} command (${file}) did not load (${(err as Error).message}); running the modules\n`);
    return undefined;
  }
}
