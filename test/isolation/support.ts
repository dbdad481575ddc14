/** Shared by the isolation tests: temp dirs, a containerizer per test, configs, assertions. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { Code, DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import type { ContainerConfig } from "../../src/isolation/containerizer.js";
import type { Isolator } from "../../src/isolation/isolator.js";
import { PosixContainerizer } from "../../src/isolation/posix.js";
import { readStat } from "../../src/isolation/proc.js";
import { waitFor } from "../support/wait.js";

const dirs: string[] = [];
const containerizers: PosixContainerizer[] = [];

after(async () => {
  for (const c of containerizers) {
    for (const id of c.containers()) await c.destroy(id, 0).catch(() => undefined);
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

export async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `dcos-${prefix}-`));
  dirs.push(d);
  return d;
}

let launcher: "warm" | "inline" = "warm";

/** Who forks the wrappers of the containerizers made from now on (a suite's `before`): the warm launcher (default) or the agent itself. */
export function useLauncher(l: "warm" | "inline"): void {
  launcher = l;
}

export function containerizer(runtimeRoot: string, isolators: readonly Isolator[] = []): PosixContainerizer {
  const c = new PosixContainerizer({ runtimeRoot, isolators, logger: testLogger(), pollIntervalMs: 20, launcher });
  containerizers.push(c);
  return c;
}

export async function setup(isolators: readonly Isolator[] = []): Promise<{ c: PosixContainerizer; root: string; sandbox: string }> {
  const root = await tempDir("runtime");
  const sandbox = await tempDir("sandbox");
  return { c: containerizer(root, isolators), root, sandbox };
}

let seq = 0;
export function config(sandbox: string, command: ContainerConfig["command"], extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return { id: `c${process.pid}-${++seq}`, command, sandbox, ...extra };
}

export function isGone(pid: number): Promise<boolean> {
  return readStat(pid).then((s) => s === undefined || s.state === "Z");
}

export function sandboxFile(sandbox: string, name: string): Promise<string> {
  return readFile(join(sandbox, name), "utf8");
}

/** Waits until the command has written `text` to the sandbox's stdout. */
export function waitForOutput(sandbox: string, text: string): Promise<true> {
  return waitFor(async () => (await sandboxFile(sandbox, "stdout").catch(() => "")).includes(text) || undefined, `'${text}' on stdout`);
}

/** Waits for a file the command writes in its sandbox, and reads a pid from it. */
export function waitForPid(sandbox: string, name: string): Promise<number> {
  return waitFor(async () => {
    const n = Number((await sandboxFile(sandbox, name).catch(() => "")).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  }, `a pid in ${name}`);
}

export async function rejectsWith(p: Promise<unknown>, code: Code, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(DcosError.is(e, code), `expected ${Code[code]}, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    return true;
  });
}

/** For tests that need root (cgroups, namespaces, other users): fail saying so. */
export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) assert.fail(`${what} needs root: run the isolation tests as root (sudo npm test)`);
}
