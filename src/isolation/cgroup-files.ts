/**
 * Reading and writing cgroup control files, the same for v1 and v2: one value, "key value"
 * lines (cpu.stat, memory.stat, memory.events …), and lists of pids. A write that the
 * kernel refuses becomes a DcosError naming the file and the value.
 *
 * The calls are synchronous underneath: cgroupfs lives in the kernel's memory and answers in
 * microseconds, where the promise API's open, write/read and close through the thread pool
 * cost several round trips each, about ten files per container launch and end.
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, DcosError } from "../runtime/error.js";

export async function writeControl(dir: string, file: string, value: string | number): Promise<void> {
  try {
    writeFileSync(join(dir, file), String(value));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const status = code === "ENOENT" ? Code.FAILED_PRECONDITION : code === "EACCES" || code === "EPERM" ? Code.PERMISSION_DENIED : Code.INTERNAL;
    throw new DcosError(status, `Cannot write ${JSON.stringify(String(value))} to ${join(dir, file)}: ${(e as Error).message}`, { cause: e });
  }
}

/** The file's text, or undefined when it does not exist (controller absent, cgroup gone). */
export async function readControl(dir: string, file: string): Promise<string | undefined> {
  try {
    return readFileSync(join(dir, file), "utf8");
  } catch {
    return undefined;
  }
}

/** One number ("max" reads as Infinity); undefined when absent or unparsable. */
export async function readNumber(dir: string, file: string): Promise<number | undefined> {
  const text = (await readControl(dir, file))?.trim();
  if (text === undefined) return undefined;
  if (text === "max") return Infinity;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** "key value" lines as a map (values that are not numbers are dropped). */
export async function readKeyed(dir: string, file: string): Promise<Map<string, number>> {
  const map = new Map<string, number>();
  for (const line of ((await readControl(dir, file)) ?? "").split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    const n = Number(value);
    if (key && value !== undefined && Number.isFinite(n)) map.set(key, n);
  }
  return map;
}

/** The pids listed in cgroup.procs (or tasks / cgroup.threads). */
export async function readPids(dir: string, file = "cgroup.procs"): Promise<number[]> {
  const text = (await readControl(dir, file)) ?? "";
  return text.split("\n").filter((l) => l.length > 0).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

export async function makeCgroup(dir: string): Promise<void> {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new DcosError(Code.FAILED_PRECONDITION, `Cannot create cgroup ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Removes an (empty) cgroup directory. The kernel refuses (EBUSY) while a dying process is
 * still charged to it, so this retries for a while. A missing directory is fine.
 */
export async function removeCgroup(dir: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline) {
        throw new DcosError(Code.INTERNAL, `Cannot remove cgroup ${dir}: ${(e as Error).message}`, { cause: e });
      }
      await sleep(20);
    }
  }
}

/** Polls `check` until it holds or the deadline passes; returns whether it held. */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 5): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
}
