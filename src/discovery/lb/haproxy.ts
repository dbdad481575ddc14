/**
 * Debian's haproxy, run by us in master-worker mode (`-W -db`): the master stays our child
 * and re-executes itself on SIGUSR2 with the new haproxy.cfg; the new worker takes the
 * listening sockets from the old one over the admin socket (`expose-fd listeners`, the
 * seamless reload), so no connection is refused during a reload, and the old worker
 * finishes the connections it holds. Every configuration is checked with `haproxy -c`
 * before it is written where the master reads it. The master CLI (`-S`) tells when the new
 * worker is up (`show proc`).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { rename, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "../../runtime/log.js";

const run = promisify(execFile);

export interface HaproxyOptions {
  /** Where haproxy.cfg, the candidate and the sockets live. */
  dir: string;
  /** The haproxy binary (default `haproxy` on PATH). */
  binary?: string;
  logger: Logger;
  /** How long a reload may take before it counts as failed (default 10 s). */
  reloadTimeoutMs?: number;
}

export type Validation = { ok: true } | { ok: false; error: string };

/** What the master CLI's `show proc` says: the master's reload count and the current workers' pids. */
export interface ProcInfo {
  reloads: number;
  workers: number[];
  oldWorkers: number[];
}

export function parseShowProc(text: string): ProcInfo {
  let section: "master" | "workers" | "old" = "master";
  const info: ProcInfo = { reloads: 0, workers: [], oldWorkers: [] };
  for (const line of text.split("\n")) {
    if (/^#\s*workers/i.test(line)) section = "workers";
    else if (/^#\s*old workers/i.test(line)) section = "old";
    else if (/^\d+/.test(line)) {
      const [pid, type, reloads] = line.trim().split(/\s+/);
      if (type === "master") info.reloads = Number(reloads);
      else if (section === "workers") info.workers.push(Number(pid));
      else if (section === "old") info.oldWorkers.push(Number(pid));
    }
  }
  return info;
}

export class Haproxy {
  readonly configPath: string;
  readonly masterSocket: string;
  readonly adminSocket: string;
  readonly statsSocket: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private readonly binary: string;
  private candidate = 0;
  reloads = 0;

  constructor(private readonly o: HaproxyOptions) {
    this.binary = o.binary ?? "haproxy";
    this.configPath = join(o.dir, "haproxy.cfg");
    this.masterSocket = join(o.dir, "master.sock");
    this.adminSocket = join(o.dir, "admin.sock");
    this.statsSocket = join(o.dir, "stats.sock");
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** `haproxy -v`'s first line; throws with how to install haproxy when it is missing. */
  async version(): Promise<string> {
    try {
      const { stdout } = await run(this.binary, ["-v"]);
      return stdout.split("\n")[0] ?? "";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new Error(`haproxy is not installed (looked for '${this.binary}'): apt-get install -y haproxy, or run deploy/setup-host.sh as root`);
      }
      throw err;
    }
  }

  /** Checks a configuration with `haproxy -c` without touching the running one. */
  async validate(config: string): Promise<Validation> {
    const path = join(this.o.dir, `candidate-${process.pid}-${this.candidate++}.cfg`);
    await writeFile(path, config);
    try {
      await run(this.binary, ["-c", "-f", path], { timeout: 30_000 });
      return { ok: true };
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
      if (e.code === "ENOENT") throw new Error(`haproxy is not installed: apt-get install -y haproxy`);
      const text = `${e.stderr ?? ""}${e.stdout ?? ""}`.trim() || e.message;
      return { ok: false, error: text.split("\n").filter((l) => /ALERT|error/i.test(l)).join("\n") || text };
    } finally {
      await rmQuiet(path);
    }
  }

  /** Starts the master with this (already validated) configuration; resolves when a worker runs. */
  async start(config: string): Promise<void> {
    await this.install(config);
    const child = spawn(this.binary, ["-W", "-db", "-f", this.configPath, "-S", `${this.masterSocket},mode,600`], { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    const lines: string[] = [];
    const keep = (chunk: Buffer): void => {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(l);
      if (lines.length > 50) lines.splice(0, lines.length - 50);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", (chunk: Buffer) => {
      keep(chunk);
      for (const l of chunk.toString().split("\n")) if (/ALERT/.test(l)) this.o.logger.warn(`haproxy: ${l}`);
    });
    this.exited = new Promise((resolve) => child.on("exit", () => resolve()));
    const deadline = Date.now() + (this.o.reloadTimeoutMs ?? 10_000);
    for (;;) {
      if (!this.running) throw new Error(`haproxy exited at start: ${lines.join("\n")}`);
      const proc = await this.showProc().catch(() => undefined);
      if (proc && proc.workers.length > 0) return;
      if (Date.now() > deadline) throw new Error(`haproxy did not start a worker within ${this.o.reloadTimeoutMs ?? 10_000} ms: ${lines.join("\n")}`);
      await sleep(20);
    }
  }

  /**
   * Seamless reload with a new (already validated) configuration: written where the master
   * reads it, SIGUSR2 to the master, resolved once a new worker runs.
   */
  async reload(config: string): Promise<void> {
    if (!this.running) throw new Error("haproxy is not running");
    const before = await this.showProc();
    await this.install(config);
    this.child!.kill("SIGUSR2");
    const deadline = Date.now() + (this.o.reloadTimeoutMs ?? 10_000);
    for (;;) {
      await sleep(10);
      const now = await this.showProc().catch(() => undefined);
      if (now && now.reloads > before.reloads && now.workers.length > 0 && now.workers.some((w) => !before.workers.includes(w))) break;
      if (!this.running) throw new Error("haproxy exited during a reload");
      if (Date.now() > deadline) throw new Error(`haproxy did not finish a reload within ${this.o.reloadTimeoutMs ?? 10_000} ms`);
    }
    this.reloads++;
  }

  /** The master CLI's `show proc`. */
  async showProc(): Promise<ProcInfo> {
    return parseShowProc(await this.masterCommand("show proc"));
  }

  /** One command on the master CLI socket; resolves with its answer. */
  masterCommand(command: string): Promise<string> {
    return this.socketCommand(this.masterSocket, command);
  }

  private socketCommand(path: string, command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      let text = "";
      const timer = setTimeout(() => (socket.destroy(), reject(new Error(`haproxy's ${path} did not answer '${command}'`))), 5000);
      socket.on("connect", () => socket.end(`${command}\n`));
      socket.on("data", (d) => (text += d.toString()));
      socket.on("error", (err) => (clearTimeout(timer), reject(err)));
      socket.on("close", () => (clearTimeout(timer), resolve(text)));
    });
  }

  async stop(): Promise<void> {
    if (!this.child || !this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  /** One command on the worker's admin socket (the runtime API); resolves with its answer. */
  runtimeCommand(command: string): Promise<string> {
    return this.socketCommand(this.adminSocket, command);
  }

  /** Writes the configuration atomically where the master reads it (used at the next reload or start). */
  async install(config: string): Promise<void> {
    const tmp = `${this.configPath}.${process.pid}.tmp`;
    await writeFile(tmp, config);
    await rename(tmp, this.configPath);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function rmQuiet(path: string): Promise<void> {
  await rm(path, { force: true });
}
