import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, DcosError } from "../../src/runtime/error.js";
import type { RaftStatus } from "../../src/raft/raft-node.js";
import type { MemberConfig, MemberRequest } from "./raft-member.js";
import { waitFor } from "./wait.js";

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { code: Code; message: string; details: Record<string, string> } };
type Event = { event: "ready"; address: string } | { event: "leader"; leader: string; term: number } | { event: "acked"; value: string };
type Request = MemberRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** The log the benchmark's proposals (machine "logs") and its ReplicatedLogService clients append to. */
export const BENCH_LOG = { principal: "bench", name: "latency" } as const;

const MEMBER_SCRIPT = new URL("./raft-member.js", import.meta.url).pathname;

/** One member process (see raft-member.ts), driven over IPC. */
export class MemberProcess {
  private child: ChildProcess | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly acked: string[] = [];
  exited = true;

  constructor(
    readonly address: string,
    readonly config: MemberConfig,
  ) {}

  async start(): Promise<void> {
    // RAFT_MEMBER_NODE_ARGS passes node flags to the members (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
    const execArgv = process.env.RAFT_MEMBER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
    const child = fork(MEMBER_SCRIPT, [JSON.stringify(this.config)], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv });
    this.child = child;
    this.exited = false;
    let ready = false;
    child.on("message", (m: Reply | Event) => {
      if ("event" in m) {
        if (m.event === "ready") ready = true;
        else if (m.event === "acked") this.acked.push(m.value);
        return;
      }
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new DcosError(m.error.code, m.error.message, { details: m.error.details }));
    });
    child.on("error", () => undefined); // send failures are reported through their callbacks
    child.on("exit", () => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new DcosError(Code.UNAVAILABLE, `Member ${this.address} exited`));
      this.waiting.clear();
    });
    await waitFor(() => ready || (this.exited ? Promise.reject(new Error(`member ${this.address} exited on start`)) : false), `member ${this.address} to start`, 20_000, 10);
  }

  call<T>(request: Request): Promise<T> {
    const child = this.child;
    if (!child || this.exited) return Promise.reject(new DcosError(Code.UNAVAILABLE, `Member ${this.address} is not running`));
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // A member killed a moment ago may not have reported its exit yet: its IPC channel is
      // closed, and send fails (without the callback, as an unhandled 'error' event).
      child.send({ ...request, id }, (err) => {
        if (!err || !this.waiting.delete(id)) return;
        reject(new DcosError(Code.UNAVAILABLE, `Member ${this.address} is not reachable: ${err.message}`));
      });
    });
  }

  status(): Promise<RaftStatus> {
    return this.call<RaftStatus>({ cmd: "status" });
  }

  /** kill -9, and wait until the process is gone. */
  async kill9(): Promise<void> {
    if (!this.child || this.exited) return;
    const gone = new Promise<void>((r) => this.child!.once("exit", () => r()));
    this.child.kill("SIGKILL");
    await gone;
  }
}

/** Three (or more) members on loopback, each with its own data directory. */
export class ProcessCluster {
  private constructor(
    readonly members: MemberProcess[],
    private readonly root: string,
  ) {}

  static async start(size: number, machine: MemberConfig["machine"], root = mkdtempSync(join(tmpdir(), "raft-cluster-")), timing?: MemberConfig["timing"]): Promise<ProcessCluster> {
    const ports = await freePorts(size);
    const peers = ports.map((p) => `127.0.0.1:${p}`);
    const members = peers.map((address, i) => new MemberProcess(address, { dir: join(root, `m${i + 1}`), port: ports[i]!, peers, machine, ...(timing ? { timing } : {}) }));
    await Promise.all(members.map((m) => m.start()));
    return new ProcessCluster(members, root);
  }

  alive(): MemberProcess[] {
    return this.members.filter((m) => !m.exited);
  }

  /** The live member that is leader of the highest term, once there is one. */
  async leader(timeoutMs = 10_000): Promise<MemberProcess> {
    return waitFor(async () => {
      const statuses = await Promise.all(this.alive().map(async (m) => ({ m, s: await m.status().catch(() => undefined) })));
      const top = Math.max(...statuses.map((x) => x.s?.term ?? 0));
      return statuses.find((x) => x.s?.role === "leader" && x.s.term === top)?.m;
    }, "a leader", timeoutMs, 10);
  }

  /** Asks the members to exit (so node flags like --cpu-prof can write their output), then kills what is left. */
  async stop(): Promise<void> {
    await Promise.all(this.alive().map((m) => m.call({ cmd: "exit" }).catch(() => undefined)));
    await waitFor(() => this.alive().length === 0, "the members to exit", 5_000).catch(() => undefined);
    await Promise.all(this.members.map((m) => m.kill9()));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Ports free right now on 127.0.0.1 (bound and released). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
