/**
 * The agent's side of the warm launcher (launcher-server.ts): finds the launcher on its
 * socket (`<runtime root>/.launcher/sock`) or starts it (detached, in its own session),
 * asks it to spawn wrappers and say "go", and passes on the ends it reports.
 *
 * A launcher that goes away while the agent is attached (its socket closes: a crash, a
 * kill -9) is not silent: the client logs a warning, counts it in
 * `slave/launcher_crashes`, tells the containerizer (which watches the containers that
 * launcher had started through /proc again, and learns how they ended from the
 * recorder's status file), and starts a new launcher for the next launches.
 */
import { spawn as spawnProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type { Counter, Metrics } from "../metrics/metrics.js";
import { Code, DcosError } from "../runtime/error.js";
import type { Logger } from "../runtime/log.js";
import { encodeFrame, FrameReader, type ExitReport, type FromLauncher, type GateId, type KnownContainer, type SpawnRequest, type ToLauncher } from "./launcher-protocol.js";
import { readStatSync } from "./proc.js";

/** The bundle `npm run build` makes (build:executors), else the module itself (tsc alone). */
export const LAUNCHER_PROGRAM = ((): string => {
  const bundle = fileURLToPath(new URL("../../executors/launcher.cjs", import.meta.url));
  return existsSync(bundle) ? bundle : fileURLToPath(new URL("./launcher-main.js", import.meta.url));
})();

/** A unix socket's path must fit in sockaddr_un (108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;
/** How long a launcher has to answer a hello. */
const HELLO_TIMEOUT_MS = 5_000;
/** How long a detached connection waits for the launcher to close its side. */
const CLOSE_TIMEOUT_MS = 2_000;
/** How long a launcher just started has to listen. */
const START_TIMEOUT_MS = 15_000;

export interface LauncherClientOptions {
  /** The launcher's directory (socket, log), made 0700. */
  dir: string;
  /** How long the launcher waits for an agent that went away before killing the containers. */
  recoveryTimeoutMs: number;
  /** How many launch wrappers the launcher keeps forked ahead of need (launcher-gates.ts). */
  gates: number;
  logger: Logger;
  metrics?: Metrics;
  /** A wrapper ended (the launcher is its parent). */
  onExit: (report: ExitReport) => void;
  /** The launcher went away while attached: the ids of the containers it supervised are in the callback's hands now. */
  onLost: () => void;
}

interface Pending {
  resolve: (v: { pid: number; startTime: number }) => void;
  reject: (e: Error) => void;
}

export class LauncherClient {
  readonly socketPath: string;
  private socket?: Socket;
  private connecting?: Promise<KnownContainer[]>;
  private readonly pending = new Map<string, Pending>();
  private helloWaiter?: (containers: KnownContainer[]) => void;
  private detached = false;
  private readonly crashes?: Counter;
  /** Containers whose end the launcher is to report: the socket keeps the process alive only while there are some. */
  private readonly watched = new Set<string>();
  /** Pre-forked gates the launcher announced on this connection and no launch took yet (launcher-gates.ts). */
  private gates: GateId[] = [];

  /** undefined when the socket path would be too long (the containerizer then forks itself). */
  static create(o: LauncherClientOptions): LauncherClient | undefined {
    const socketPath = join(o.dir, "sock");
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
      o.logger.warn({ socketPath }, "The warm launcher's socket path is too long for a unix socket; the agent forks launch wrappers itself");
      return undefined;
    }
    return new LauncherClient(o, socketPath);
  }

  private constructor(private readonly o: LauncherClientOptions, socketPath: string) {
    this.socketPath = socketPath;
    this.crashes = o.metrics?.counter("slave/launcher_crashes", "Warm launcher processes that went away while the agent was attached (each was restarted; its containers watched through /proc)");
  }

  /** Connects to the running launcher, or starts one; resolves with what it supervises. */
  attach(): Promise<KnownContainer[]> {
    if (this.detached) return Promise.reject(new DcosError(Code.FAILED_PRECONDITION, "The launcher client is detached"));
    this.connecting ??= this.connectOrStart().catch((e: unknown) => {
      this.connecting = undefined;
      throw e;
    });
    return this.connecting;
  }

  async spawn(req: Omit<SpawnRequest, "op">): Promise<{ pid: number; startTime: number }> {
    await this.attach();
    if (this.pending.has(req.id)) throw new DcosError(Code.ALREADY_EXISTS, `A spawn of container '${req.id}' is already under way`);
    const answer = new Promise<{ pid: number; startTime: number }>((resolve, reject) => this.pending.set(req.id, { resolve, reject }));
    this.watch(req.id);
    this.write({ op: "spawn", ...req });
    return answer.catch((e: unknown) => {
      this.unwatch(req.id);
      throw e;
    });
  }

  /** How many announced gates no launch took yet. */
  get gatesKnown(): number {
    return this.gates.length;
  }

  /**
   * A live pre-forked gate the launcher announced, now this caller's (checked in /proc: a
   * gate that died unused is skipped); undefined when none is left (then spawn forks on
   * demand).
   */
  takeGate(): GateId | undefined {
    for (let g = this.gates.shift(); g; g = this.gates.shift()) {
      const stat = readStatSync(g.pid);
      if (stat && stat.state !== "Z" && stat.startTime === g.startTime) return g;
    }
    return undefined;
  }

  /**
   * Runs the container on `gate` (taken with takeGate and placed in its cgroups by the
   * caller) and says "go" in the same message, without waiting: resolves once the launcher
   * confirms, rejects with INTERNAL when the gate was gone by then (the command never ran),
   * UNAVAILABLE when the launcher went away (its containers are then watched through /proc).
   * Throws at once when the launcher is not connected (nothing was sent).
   */
  spawnOnGate(req: Omit<SpawnRequest, "op" | "gate" | "go">, gate: GateId): Promise<void> {
    const s = this.socket;
    if (!s || s.destroyed) throw new DcosError(Code.UNAVAILABLE, "The warm launcher is not connected");
    if (this.pending.has(req.id)) throw new DcosError(Code.ALREADY_EXISTS, `A spawn of container '${req.id}' is already under way`);
    const answer = new Promise<{ pid: number; startTime: number }>((resolve, reject) => this.pending.set(req.id, { resolve, reject }));
    this.watch(req.id);
    s.write(encodeFrame({ op: "spawn", ...req, gate, go: true }));
    return answer.then(
      () => undefined,
      (e: unknown) => {
        this.unwatch(req.id);
        throw e;
      },
    );
  }

  /** The launcher is to report the end of this container (a recovered one it supervises). */
  watch(id: string): void {
    this.watched.add(id);
    this.socket?.ref();
  }

  private unwatch(id: string): void {
    this.watched.delete(id);
    if (this.watched.size === 0) this.socket?.unref();
  }

  go(id: string): void {
    this.write({ op: "go", id });
  }

  forget(id: string): void {
    this.write({ op: "forget", id });
  }

  /** Closes the connection; the launcher keeps its containers (and waits for an agent). */
  detach(): void {
    this.detached = true;
    // Half-closed, not destroyed: what was written last ("go") is still read by the launcher,
    // and a frame the launcher writes meanwhile (a gate announced) does not make its side fail
    // with EPIPE before it has read it. The launcher closes its side on our end of file.
    const s = this.socket;
    if (s && !s.destroyed) {
      s.end();
      setTimeout(() => s.destroy(), CLOSE_TIMEOUT_MS).unref();
    }
    this.socket = undefined;
    this.gates = [];
    this.failPending("the agent detached from its containers");
  }

  private write(m: ToLauncher): void {
    const s = this.socket;
    if (!s || s.destroyed) {
      const p = m.op === "spawn" ? this.pending.get(m.id) : undefined;
      this.pending.delete((m as { id?: string }).id ?? "");
      p?.reject(new DcosError(Code.UNAVAILABLE, "The warm launcher is not connected"));
      return;
    }
    s.write(encodeFrame(m));
  }

  private async connectOrStart(): Promise<KnownContainer[]> {
    // Whoever awaits the attach keeps the process alive until it is done, whatever the socket's state.
    const keepAlive = setInterval(() => undefined, 1_000);
    try {
      return await this.connectOrStartSteps();
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async connectOrStartSteps(): Promise<KnownContainer[]> {
    let started = false;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const socket = await tryConnect(this.socketPath);
      const containers = socket && (await this.hello(socket));
      if (containers) {
        this.o.logger.info({ socket: this.socketPath, containers: containers.length }, "Attached to the warm launcher");
        return containers;
      }
      if (this.detached) throw new DcosError(Code.FAILED_PRECONDITION, "The launcher client is detached");
      if (!started) {
        this.start();
        started = true;
      } else if (Date.now() > deadline) {
        throw new DcosError(Code.UNAVAILABLE, `The warm launcher did not answer on ${this.socketPath} within ${START_TIMEOUT_MS} ms (see launcher.log there)`);
      }
      await sleep(10);
    }
  }

  private start(): void {
    mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    const log = openSync(join(this.o.dir, "launcher.log"), "a", 0o600);
    try {
      const child = spawnProcess(process.execPath, [LAUNCHER_PROGRAM, this.socketPath, String(this.o.recoveryTimeoutMs)], {
        detached: true,
        stdio: ["ignore", log, log],
      });
      child.on("error", (e) => this.o.logger.error({ err: e }, "The warm launcher could not be started"));
      child.unref();
      this.o.logger.info({ pid: child.pid, socket: this.socketPath }, "Started the warm launcher");
    } finally {
      closeSync(log);
    }
  }

  /**
   * Says hello on a new connection; resolves with what the launcher supervises, or undefined
   * when the connection closed first (a launcher that was dying, e.g. after a kill -9).
   */
  private async hello(socket: Socket): Promise<KnownContainer[] | undefined> {
    if (this.detached) {
      socket.destroy();
      return undefined;
    }
    this.socket = socket;
    this.gates = []; // the gates of this connection's launcher are announced after its hello
    const reader = new FrameReader();
    let attached = false;
    let timer: NodeJS.Timeout | undefined;
    const hello = new Promise<KnownContainer[] | undefined>((resolve) => {
      this.helloWaiter = resolve;
      socket.once("close", () => resolve(undefined));
      if (socket.destroyed) resolve(undefined);
      // A launcher that accepted but never answers (hung, or dying) is given up on.
      timer = setTimeout(() => resolve(undefined), HELLO_TIMEOUT_MS);
    });
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) this.handle(f as FromLauncher);
      } catch (e) {
        this.o.logger.warn({ err: e }, "Bad frame from the warm launcher; dropping the connection");
        socket.destroy();
      }
    });
    socket.on("error", () => undefined); // 'close' follows
    socket.on("close", () => {
      if (attached) this.closed(socket);
      else if (this.socket === socket) this.socket = undefined;
    });
    this.write({ op: "hello", recoveryTimeoutMs: this.o.recoveryTimeoutMs, gates: this.o.gates });
    const containers = await hello;
    clearTimeout(timer);
    this.helloWaiter = undefined;
    if (!containers || socket.destroyed) {
      socket.destroy();
      return undefined;
    }
    attached = true;
    if (this.watched.size === 0) socket.unref();
    return containers;
  }

  private handle(m: FromLauncher): void {
    switch (m.op) {
      case "hello":
        this.helloWaiter?.(m.containers);
        this.helloWaiter = undefined;
        return;
      case "spawned":
      case "failed": {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.op === "spawned") p?.resolve({ pid: m.pid, startTime: m.startTime });
        else p?.reject(new DcosError(Code.INTERNAL, m.message));
        return;
      }
      case "gates": {
        const gone = new Set(m.gone);
        this.gates = [...this.gates.filter((g) => !gone.has(g.pid)), ...m.ready];
        return;
      }
      case "exit":
        this.unwatch(m.id);
        this.o.onExit(m);
        return;
      case "error":
        this.o.logger.warn({ message: m.message }, "The warm launcher refused a message");
        return;
    }
  }

  private closed(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.connecting = undefined;
    this.gates = [];
    this.failPending("the warm launcher went away");
    this.watched.clear();
    if (this.detached) return;
    this.crashes?.inc();
    this.o.logger.warn({ socket: this.socketPath }, "The warm launcher went away (crashed or was killed); its containers are watched through /proc, and a new launcher is started");
    this.o.onLost();
    void this.attach().catch((e: unknown) => this.o.logger.error({ err: e }, "Could not start a new warm launcher; the next launch tries again"));
  }

  private failPending(why: string): void {
    for (const [id, p] of this.pending) p.reject(new DcosError(Code.UNAVAILABLE, `Spawning container '${id}' failed: ${why}`));
    this.pending.clear();
  }
}

function tryConnect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    if (!existsSync(path)) {
      resolve(undefined);
      return;
    }
    const s = connect(path);
    s.once("connect", () => {
      s.removeAllListeners("error");
      resolve(s);
    });
    s.once("error", () => resolve(undefined));
    s.once("close", () => resolve(undefined));
  });
}
