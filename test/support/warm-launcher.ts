/** Finds the warm launcher (src/isolation/launcher-server.ts) of a runtime root, for tests that kill it. */
import { readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { POOLED_GATE_SCRIPT } from "../../src/isolation/launcher.js";
import { readStat } from "../../src/isolation/proc.js";

/** The launcher's socket under a posix containerizer's runtime root (`<work dir>/containers` for an agent). */
export function launcherSocket(runtimeRoot: string): string {
  return join(runtimeRoot, ".launcher", "sock");
}

/** The pid of the live launcher listening on `socket` (its argv names the socket), if any. */
export async function launcherPid(socket: string): Promise<number | undefined> {
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (!cmdline.split("\0").includes(socket)) continue;
    const stat = await readStat(Number(name));
    if (stat && stat.state !== "Z") return Number(name);
  }
  return undefined;
}

/**
 * The pre-forked gates (src/isolation/launcher-gates.ts) waiting for a container: the
 * launcher's children running the pooled gate script in `/` (a gate given a container has
 * moved to its sandbox, and without an isolator's prefix it runs the recorder in the same
 * process; call this while no launch is under way).
 */
export async function waitingGates(launcher: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readStat(Number(name));
    if (!stat || stat.ppid !== launcher || stat.state === "Z") continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (!cmdline.split("\0").includes(POOLED_GATE_SCRIPT)) continue;
    if ((await readlink(`/proc/${name}/cwd`).catch(() => "")) === "/") pids.push(Number(name));
  }
  return pids;
}
