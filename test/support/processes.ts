/**
 * Real dcos-node processes for end-to-end tests: spawn the built CLI, keep its output
 * lines, wait (with a deadline) for a line that matches, and kill what was started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

/** dist/src/cli/main.js, from dist/test/support. */
export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
/** dist/cli/dcos-node.cjs: the installed command (package.json bin; src/cli/bin.ts). */
export const BIN = fileURLToPath(new URL("../../cli/dcos-node.cjs", import.meta.url));

export class NodeProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    readonly args: readonly string[],
    /** A command that runs node, e.g. `["ip", "netns", "exec", "dcos-test-1-2"]` (it must exec, so pid and signals are node's). */
    launcher: readonly string[] = [],
  ) {
    const [command, ...launcherArgs] = [...launcher, process.execPath];
    this.child = spawn(command!, [...launcherArgs, CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0" } });
    let partial = "";
    const collect = (chunk: Buffer) => {
      const text = partial + chunk.toString("utf8");
      const parts = text.split("\n");
      partial = parts.pop() ?? "";
      this.lines.push(...parts);
    };
    this.child.stdout!.on("data", collect);
    this.child.stderr!.on("data", collect);
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The first capture group of the first output line matching `pattern`. */
  async waitForLine(pattern: RegExp, what: string, timeoutMs = 20_000): Promise<string> {
    return waitFor(
      () => {
        for (const line of this.lines) {
          const m = pattern.exec(line);
          if (m) return m[1] ?? m[0];
        }
        return undefined;
      },
      `${this.name}: ${what}\n--- its output ---\n${this.tail()}`,
      timeoutMs,
    );
  }

  /** Lines matching the pattern, counted now. */
  count(pattern: RegExp): number {
    return this.lines.filter((l) => pattern.test(l)).length;
  }

  tail(n = 30): string {
    return this.lines.slice(-n).join("\n");
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(graceMs = 5_000): Promise<void> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Writes the whole output of each process to `dir/<prefix><name>.log` (a name met again gets
 * -2, -3, …: a master restarted after kill -9); resolves with the paths, in that order.
 */
export async function writeLogs(dir: string, processes: readonly NodeProcess[], prefix = ""): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const seen = new Map<string, number>();
  const paths: string[] = [];
  for (const p of processes) {
    const n = (seen.get(p.name) ?? 0) + 1;
    seen.set(p.name, n);
    const path = join(dir, `${prefix}${p.name.replace(/[^\w.-]+/g, "_")}${n > 1 ? `-${n}` : ""}.log`);
    await writeFile(path, `${p.lines.join("\n")}\n`);
    paths.push(path);
  }
  return paths;
}

/** Runs a command to its end; resolves with its exit code and output. */
export async function runToEnd(name: string, args: readonly string[], timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const p = new NodeProcess(name, args);
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, output: p.lines.join("\n") };
}

/**
 * SIGKILLs every process whose command line or environment names `dir` (a test's own
 * temporary directory): executors and tasks outlive their agent by design (they wait for it to
 * come back), so a test that stops its agents for good ends them itself.
 */
export async function killProcessesUnder(dir: string): Promise<number> {
  const { readdir, readFile } = await import("node:fs/promises");
  let killed = 0;
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const read = (f: string) => readFile(`/proc/${name}/${f}`, "utf8").catch(() => "");
    const [cmdline, environ] = await Promise.all([read("cmdline"), read("environ")]);
    if (!cmdline.includes(dir) && !environ.includes(dir)) continue;
    try {
      process.kill(Number(name), "SIGKILL");
      killed++;
    } catch {
      // Already gone.
    }
  }
  return killed;
}

/** Whether a process with this pid exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
