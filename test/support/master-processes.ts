/**
 * Replicated masters as separate `dcos-node --role=master` processes on loopback, for the
 * real-process failover test and the failover benchmark: free ports chosen first (the
 * group's --masters list must name them), the leader found from the masters' own logs.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before } from "node:test";
import { NodeProcess, killProcessesUnder, writeLogs } from "./processes.js";
import { waitFor } from "./wait.js";

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * `count` consecutive ports on 127.0.0.1 that are all free now: below Linux's ephemeral
 * range (32768-60999) first, where outgoing connections do not take them, from a random
 * place so that parallel runs rarely look at the same ports.
 */
export async function freePortRange(count: number): Promise<number> {
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
  for (const [from, to] of [[20_000, 32_000], [40_000, 60_000]] as const) {
    const slots = Math.floor((to - from) / count);
    const first = Math.floor(Math.random() * slots);
    for (let i = 0; i < slots; i++) {
      const base = from + ((first + i) % slots) * count;
      let ok = true;
      for (let p = base; p < base + count && ok; p++) ok = await free(p);
      if (ok) return base;
    }
  }
  throw new Error(`no ${count} free consecutive ports between 20000 and 60000`);
}

const LEADS = /leads at master@(\d+\.\d+\.\d+\.\d+:\d+) \(term (\d+)\)/;

export class MasterProcesses {
  /** Masters killed by kill9, for restart(). */
  private readonly stopped: (NodeProcess | undefined)[] = [];
  /** Per process: lines read by leader() and the highest term it logged leading. */
  private readonly leadsSeen = new WeakMap<NodeProcess, { lines: number; term: number }>();
  /** Every master process started, killed and restarted ones included (for their logs). */
  readonly started: NodeProcess[];

  private constructor(
    readonly addresses: string[],
    readonly processes: (NodeProcess | undefined)[],
  ) {
    this.started = processes.filter((p): p is NodeProcess => p !== undefined);
  }

  /** `--master=` for agents and frameworks. */
  get list(): string {
    return this.addresses.join(",");
  }

  /** `launcher`: a command that runs node (NodeProcess), e.g. one adding node flags such as --cpu-prof. */
  static async start(count: number, dir: string, extra: readonly string[] = [], launcher: readonly string[] = []): Promise<MasterProcesses> {
    // Below the ephemeral range (freePortRange): a port picked there with freePort() could be
    // taken by any process's outgoing connection before the master binds it (a clean-clone CI
    // run failed with "EADDRINUSE 127.0.0.1:45815" when the services test's master-3 started).
    const base = await freePortRange(count);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    const processes = addresses.map(
      (a, i) =>
        new NodeProcess(`master-${i + 1}`, [
          "--role=master",
          `--port=${ports[i]}`,
          "--http-port=0",
          `--masters=${addresses.join(",")}`,
          `--work-dir=${join(dir, `master-${i + 1}`)}`,
          "--allocation-interval=100ms",
          ...extra,
        ], launcher),
    );
    const m = new MasterProcesses(addresses, processes);
    // Generous: three node processes starting at once on a loaded 2-core machine.
    for (const p of processes) {
      let gone = false;
      void p.exited.then(() => (gone = true));
      await waitFor(() => p.count(/Master listening on/) > 0 || gone, `${p.name} to listen`, 60_000);
      if (p.count(/Master listening on/) === 0) throw new Error(`${p.name} exited before listening:\n${p.tail()}`);
    }
    return m;
  }

  /**
   * The index of the master that last started to lead (highest term), from the logs; -1 if
   * none. Each process's lines are read once (a master at 10,000 agents logs hundreds of
   * thousands: a scale bench polling every 20 ms took a core re-reading them).
   */
  leader(): number {
    let best = -1;
    let bestTerm = -1;
    this.processes.forEach((p, i) => {
      if (!p) return;
      let seen = this.leadsSeen.get(p);
      if (!seen) this.leadsSeen.set(p, (seen = { lines: 0, term: -1 }));
      for (; seen.lines < p.lines.length; seen.lines++) {
        const m = LEADS.exec(p.lines[seen.lines]!);
        if (m && Number(m[2]) > seen.term) seen.term = Number(m[2]);
      }
      if (seen.term > bestTerm) {
        best = i;
        bestTerm = seen.term;
      }
    });
    return best;
  }

  /** kill -9 of master i. */
  async kill9(i: number): Promise<void> {
    const p = this.processes[i]!;
    this.stopped[i] = p;
    p.kill("SIGKILL");
    await p.exited;
    this.processes[i] = undefined;
  }

  /** Starts master i again (after kill9) with the same flags and work dir; resolves once it listens. */
  async restart(i: number): Promise<NodeProcess> {
    const old = this.stopped[i];
    if (!old || this.processes[i]) throw new Error(`master ${i + 1} is not stopped`);
    const p = new NodeProcess(old.name, old.args);
    this.processes[i] = p;
    this.started.push(p);
    this.stopped[i] = undefined;
    await p.waitForLine(/(Master listening on)/, "the restarted master to listen", 60_000);
    return p;
  }

  /** SIGTERM to every master, SIGKILL to those still running after `graceMs`. */
  async stop(graceMs?: number): Promise<void> {
    await Promise.all(this.processes.map((p) => p?.stop(graceMs)));
  }
}

/**
 * For a describe block of real-process tests: a temporary directory made before the tests,
 * and after them every process started (masters and `spawn`ed others) stopped and the
 * directory removed.
 *
 * When a test fails, the whole output of every process started so far (killed ones too) is
 * written to `<dir>/logs/<n>-<test>/<process>.log` and the paths are printed on stderr; the
 * directory's `logs` outlives the run then (the rest is removed as usual). A failure in a
 * loaded CI run is often seen once: the processes' tails in the error are rarely enough.
 */
export function masterProcessesFixture(prefix: string): {
  dir: () => string;
  startMasters: (count: number, extra?: readonly string[]) => Promise<MasterProcesses>;
  spawn: (name: string, args: string[]) => NodeProcess;
  startAgent: (name: string, resources: string, extra?: readonly string[]) => Promise<NodeProcess>;
} {
  let dir = "";
  let masters: MasterProcesses | undefined;
  const others: NodeProcess[] = [];
  let failures = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async (t) => {
    // TestContext.passed (Node >= 20.13; these types predate it): false once the test failed.
    if ((t as { passed?: boolean }).passed !== false || !dir) return;
    failures++;
    const name = `${failures}-${t.name.replace(/[^\w.-]+/g, "_").slice(0, 60)}`;
    const paths = await writeLogs(join(dir, "logs", name), [...(masters?.started ?? []), ...others]).catch((err: unknown) => [`(could not write the logs: ${(err as Error).message})`]);
    process.stderr.write(`The whole output of every process when "${t.name}" failed:\n${paths.map((p) => `  ${p}\n`).join("")}`);
  });
  after(async () => {
    await Promise.all(others.map((p) => p.stop()));
    await masters?.stop();
    await killProcessesUnder(dir);
    if (failures === 0) await rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
    else {
      for (const entry of await readdir(dir)) if (entry !== "logs") await rm(join(dir, entry), { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
      process.stderr.write(`Kept the processes' logs of ${failures} failed test(s) in ${join(dir, "logs")}\n`);
    }
  });
  return {
    dir: () => dir,
    startMasters: async (count, extra = []) => (masters = await MasterProcesses.start(count, dir, extra)),
    spawn: (name, args) => {
      const p = new NodeProcess(name, args);
      others.push(p);
      return p;
    },
    /** An agent of the masters started last (ephemeral ports, its own work dir), once it has registered. */
    startAgent: async (name, resources, extra = []) => {
      if (!masters) throw new Error("startAgent: start the masters first");
      const p = new NodeProcess(name, ["--role=agent", "--port=0", "--http-port=0", `--master=${masters.list}`, `--work-dir=${join(dir, name)}`, `--resources=${resources}`, ...extra]);
      others.push(p);
      await p.waitForLine(/(Registered with master)/, "the agent to register", 60_000);
      return p;
    },
  };
}
