/**
 * The bundled `dcos-node run` (dist/cli/run.cjs, src/cli/cli-bundle.ts) as real CLI
 * processes: it prints and exits exactly as the modules do, its V8 code cache is written
 * then used, and a corrupt, truncated, foreign-format or unwritable cache never breaks
 * the CLI (it is ignored and replaced). DCOS_NODE_RUN_TIMING=1 says which path ran
 * (`timing cli:<outcome>` on stderr). No cluster: the commands end before or without one.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cacheDirectory, cliBundlePath, usableBundle } from "../../src/cli/cli-bundle.js";
import { CLI } from "../support/processes.js";

interface Ran {
  code: number;
  stdout: string;
  /** stderr without the timing lines. */
  stderr: string;
  /** The `cli:` outcome the timing lines name (hit, miss, corrupt, rejected, off, modules). */
  path: string | undefined;
}

function cli(args: string[], env: Record<string, string>): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, FORCE_COLOR: "0", DCOS_NODE_RUN_TIMING: "1", ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        if (code === -1) return reject(err);
        const lines = stderr.split("\n");
        const path = lines.map((l) => /^timing cli:(\S+) /.exec(l)?.[1]).find((p) => p !== undefined);
        resolve({ code, stdout, stderr: lines.filter((l) => !l.startsWith("timing ")).join("\n"), path });
      },
    );
  });
}

function flipped(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}

async function cacheFiles(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".v8cache")).map((f) => join(dir, f));
}

describe("dcos-node run, bundled", () => {
  let dir: string;
  before(async () => {
    const bundle = cliBundlePath("run");
    assert.ok(usableBundle(bundle), `${bundle} is missing or older than the last tsc build: run 'npm run build' (or 'npm run build:cli' after tsc)`);
    dir = await mkdtemp(join(tmpdir(), "dcos-run-bundle-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prints and exits as the modules do: --help, bad flags, a master that is not there", async () => {
    const cache = join(dir, "same-output");
    const cases: string[][] = [
      ["run", "--help"],
      ["run", "--master=127.0.0.1:5050", "--cpus=-1", "--", "true"],
      ["run", "--master=127.0.0.1:5050", "--", ""],
      // Port 1 refuses at once; --timeout ends the run with "never ran" (3).
      ["run", "--master=127.0.0.1:1", "--timeout=1", "--no-output", "--", "true"],
    ];
    for (const args of cases) {
      const modules = await cli(args, { DCOS_NODE_BUNDLE: "0" });
      const bundled = await cli(args, { DCOS_NODE_COMPILE_CACHE: cache });
      assert.equal(modules.path, "modules", `DCOS_NODE_BUNDLE=0 runs the modules: ${args.join(" ")}`);
      assert.equal(bundled.path, "miss", `the bundle ran, with no cache yet: ${args.join(" ")}\n${bundled.stderr}`);
      assert.equal(bundled.code, modules.code, `exit code of ${args.join(" ")}`);
      assert.equal(bundled.stdout, modules.stdout, `stdout of ${args.join(" ")}`);
      // How many times the absent master is retried (one line each) depends on timing.
      const steady = (text: string) => text.split("\n").filter((l) => !l.startsWith("Lost the master 127.0.0.1:1: ")).join("\n");
      assert.equal(steady(bundled.stderr), steady(modules.stderr), `stderr of ${args.join(" ")}`);
      // Only the first case leaves a cache to hit: later ones delete it to see "miss" again.
      for (const f of await cacheFiles(cache)) await rm(f);
    }
    const help = await cli(["run", "--help"], { DCOS_NODE_BUNDLE: "0" });
    assert.match(help.stdout, /^Usage: dcos-node run \[options\] <command\.\.\.>/);
    const [, bad, empty, absent] = await Promise.all(cases.map((args) => cli(args, { DCOS_NODE_COMPILE_CACHE: "0" })));
    assert.equal(bad!.code, 2, bad!.stderr);
    assert.match(bad!.stderr, /Invalid --cpus -1/);
    assert.equal(empty!.code, 2, empty!.stderr);
    assert.equal(absent!.code, 3, absent!.stderr);
    assert.match(absent!.stderr, /Could not subscribe to 127\.0\.0\.1:1 within 1 s/);
  });

  it("writes the code cache (0700 directory, 0600 file), then compiles from it", async () => {
    const cache = join(dir, "fresh", "nested");
    const first = await cli(["run", "--help"], { DCOS_NODE_COMPILE_CACHE: cache });
    assert.equal(first.path, "miss");
    const [file] = await cacheFiles(cache);
    assert.ok(file, "a cache file was written at exit");
    assert.equal((await stat(cache)).mode & 0o777, 0o700);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const second = await cli(["run", "--help"], { DCOS_NODE_COMPILE_CACHE: cache });
    assert.equal(second.path, "hit", second.stderr);
    assert.equal(second.stdout, first.stdout);
    assert.deepEqual(await cacheFiles(cache), [file], "a hit writes nothing new");
  });

  it("ignores a corrupt, truncated or foreign cache, runs as usual and replaces it", async () => {
    const cache = join(dir, "broken");
    const good = await cli(["run", "--help"], { DCOS_NODE_COMPILE_CACHE: cache });
    const [file] = await cacheFiles(cache);
    assert.ok(file);
    const original = await readFile(file);
    const header = original.subarray(0, 8);
    const payload = randomBytes(4096);
    const damage: [string, Buffer, string][] = [
      ["a flipped byte in the payload", flipped(original, original.length - 100), "corrupt"],
      ["truncated", original.subarray(0, original.length >> 1), "corrupt"],
      ["empty", Buffer.alloc(0), "corrupt"],
      ["not ours (another format)", randomBytes(original.length), "corrupt"],
      // Our header and a matching digest over bytes V8 never wrote: V8's own checks refuse it.
      ["random bytes with a valid digest", Buffer.concat([header, createHash("sha256").update(payload).digest(), payload]), "rejected"],
    ];
    for (const [what, bytes, outcome] of damage) {
      await writeFile(file, bytes, { mode: 0o600 });
      const run = await cli(["run", "--help"], { DCOS_NODE_COMPILE_CACHE: cache });
      assert.equal(run.path, outcome, `${what}: ${run.stderr}`);
      assert.equal(run.code, 0, `${what}: ${run.stderr}`);
      assert.equal(run.stdout, good.stdout, what);
      assert.equal(run.stderr, good.stderr, what);
      const again = await cli(["run", "--help"], { DCOS_NODE_COMPILE_CACHE: cache });
      assert.equal(again.path, "hit", `${what}: the cache was replaced at exit`);
    }
  });

  it("runs without a cache where none can be written", async () => {
    const notADirectory = join(dir, "a-file");
    await writeFile(notADirectory, "x");
    for (const env of [{ DCOS_NODE_COMPILE_CACHE: join(notADirectory, "cache") }, { DCOS_NODE_COMPILE_CACHE: "0" }]) {
      const run = await cli(["run", "--help"], env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^Usage: dcos-node run/);
      assert.equal(run.path, env.DCOS_NODE_COMPILE_CACHE === "0" ? "off" : "miss", run.stderr);
      assert.equal(run.stderr, "", "nothing about the cache is printed");
    }
  });

  it("uses the bundle only when it is not older than the last TypeScript build", async () => {
    const bundle = join(dir, "run.cjs");
    const info = join(dir, ".tsbuildinfo");
    await writeFile(bundle, "module.exports = {}");
    await writeFile(info, "{}");
    const now = Date.now() / 1000;
    await utimes(info, now - 10, now - 10);
    await utimes(bundle, now, now);
    assert.equal(usableBundle(bundle, info), bundle, "built after tsc");
    assert.equal(usableBundle(bundle, join(dir, "no-such-buildinfo")), bundle, "no build info (a packaged dist): the bundle");
    await utimes(info, now + 10, now + 10);
    assert.equal(usableBundle(bundle, info), undefined, "tsc ran since: the modules");
    assert.equal(usableBundle(join(dir, "missing.cjs"), info), undefined, "no bundle: the modules");
  });

  it("finds the cache directory in the environment", () => {
    assert.equal(cacheDirectory({ DCOS_NODE_COMPILE_CACHE: "/x/y" }), "/x/y");
    assert.equal(cacheDirectory({ DCOS_NODE_COMPILE_CACHE: "0" }), undefined);
    assert.equal(cacheDirectory({ DCOS_NODE_COMPILE_CACHE: "" }), undefined);
    assert.equal(cacheDirectory({ XDG_CACHE_HOME: "/c" }), "/c/dcos-node");
  });
});
