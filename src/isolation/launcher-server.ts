/**
 * The warm launcher: a small Node process the agent starts once (launcher-main.ts, bundled
 * as dist/executors/launcher.cjs) that forks the containers' launch wrappers (launcher.ts)
 * on the agent's behalf, so that the fork (synchronous in Node, 5–20 ms on a busy host)
 * blocks the launcher's event loop and not the agent's, and that reports each wrapper's
 * end the moment it happens (it is their parent), where a recovered agent would poll /proc.
 *
 * It runs detached in its own session, so a kill -9 of the agent touches neither it nor the
 * tasks, and listens on a unix socket in the containers' runtime directory (mode 0700), so a
 * restarted agent attaches to the same launcher. One agent at a time: a new connection
 * replaces the old one. Messages: launcher-protocol.ts; a bad frame is answered with an
 * `error` and the connection is closed; nothing a client sends ends the launcher.
 *
 * When a wrapper ends, the launcher SIGKILLs what is left of its session (a container
 * without cgroups) before it reports the end, so the agent does not scan /proc for it.
 *
 * Without an agent: when none is attached and no wrapper runs, the launcher exits. When the
 * agent stays away for the recovery timeout (the agent's --recovery-timeout, 15 min), the
 * launcher kills the containers it supervises the way a destroy does: it writes the
 * `exit_status.destroying` marker (so an agent that comes back later finishes that destroy
 * and reports TASK_KILLED with how the command ended), SIGTERMs every process but the
 * wrapper, SIGKILLs what is left after the container's kill grace (cgroups: cgroup.kill, or
 * every pid of cgroup.procs), writes 137 (SIGKILL) as the status of a command that left
 * none, and exits once every wrapper has ended. The executor per task used to do the same
 * after DCOS_RECOVERY_TIMEOUT.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, fchownSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { DESTROYING_SUFFIX, GO_LINE, readExitStatusFile } from "./launcher.js";
import { gateable, GatePool } from "./launcher-gates.js";
import { encodeFrame, FrameError, FrameReader, parseToLauncher, type ExitReport, type FromLauncher, type KnownContainer, type SpawnRequest } from "./launcher-protocol.js";
import { readStat, readStatSync } from "./proc.js";
import { killSession, sessionProcesses, signalEach } from "./process-session.js";

export interface LauncherServerOptions {
  socketPath: string;
  /** Until the first agent's hello says otherwise. */
  recoveryTimeoutMs: number;
  log: (msg: string, fields?: Record<string, unknown>) => void;
  /** Called once the launcher has nothing left to do (default: process.exit(0)). */
  exit?: () => void;
}

interface Supervised {
  req: SpawnRequest;
  child: ChildProcess;
  pid: number;
  startTime: number;
  exit?: ExitReport;
}

const STATUS_FILE = "exit_status";
const KILL_POLL_MS = 50;
/** How long a launcher just started waits for its first agent before it exits (when idle). */
const FIRST_AGENT_WAIT_MS = 30_000;
/** How long the launcher keeps SIGKILLing what is left of an ended wrapper's session. */
const SESSION_KILL_MS = 10_000;

export class LauncherServer {
  private readonly server: Server;
  private readonly children = new Map<string, Supervised>();
  private agent?: Socket;
  private recoveryTimeoutMs: number;
  private awayTimer?: NodeJS.Timeout;
  private expiring = false;
  private closed = false;
  /** The attached agent said hello: it is told of gates from then on. */
  private greeted = false;
  /** Wrappers forked ahead of need (launcher-gates.ts); as many as the agent's hello asks for. */
  readonly gates: GatePool;

  constructor(private readonly o: LauncherServerOptions) {
    this.recoveryTimeoutMs = o.recoveryTimeoutMs;
    this.gates = new GatePool(o.log, (ready, gone) => {
      if (this.greeted) this.send({ op: "gates", ready, gone });
    });
    this.server = createServer((socket) => this.attach(socket));
  }

  async listen(): Promise<void> {
    if (existsSync(this.o.socketPath)) unlinkSync(this.o.socketPath); // a dead launcher's
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.o.socketPath, () => resolve());
    });
    this.server.on("error", (e) => this.o.log("Socket server error", { err: e.message }));
    // The agent that started it connects right away; one that never does leaves it idle.
    this.awayTimer = setTimeout(() => this.exitIfIdle(), FIRST_AGENT_WAIT_MS);
  }

  // ---- the agent's connection --------------------------------------------------------

  private attach(socket: Socket): void {
    if (this.agent) {
      this.o.log("A new agent connection replaces the previous one");
      this.agent.destroy();
    }
    this.agent = socket;
    this.greeted = false;
    if (this.awayTimer) clearTimeout(this.awayTimer);
    this.awayTimer = undefined;
    const reader = new FrameReader();
    socket.on("data", (chunk: Buffer) => {
      let frames: unknown[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        this.refuse(socket, e);
        return;
      }
      for (const f of frames) {
        try {
          this.handle(socket, f);
        } catch (e) {
          this.refuse(socket, e);
          return;
        }
      }
    });
    socket.on("error", () => undefined); // 'close' follows
    socket.on("close", () => {
      if (this.agent !== socket) return;
      this.agent = undefined;
      this.greeted = false;
      this.agentAway();
    });
  }

  private refuse(socket: Socket, e: unknown): void {
    const message = e instanceof FrameError ? e.message : `Internal error: ${(e as Error).message}`;
    this.o.log("Refused a message from the agent; closing its connection", { err: message });
    if (!socket.destroyed) socket.end(encodeFrame({ op: "error", message }));
  }

  private send(message: FromLauncher): void {
    if (this.agent && !this.agent.destroyed) this.agent.write(encodeFrame(message));
  }

  private handle(socket: Socket, frame: unknown): void {
    if (socket !== this.agent) return;
    const m = parseToLauncher(frame);
    switch (m.op) {
      case "hello":
        this.recoveryTimeoutMs = m.recoveryTimeoutMs;
        this.greeted = true;
        this.gates.resize(m.gates ?? 0);
        this.send({ op: "gates", ready: this.gates.waiting(), gone: [] });
        this.send({ op: "hello", pid: process.pid, containers: [...this.children.values()].map((c): KnownContainer => ({ id: c.req.id, pid: c.pid, startTime: c.startTime, ...(c.exit ? { exit: c.exit } : {}) })) });
        return;
      case "spawn":
        this.spawn(m);
        return;
      case "go": {
        const c = this.children.get(m.id);
        if (!c || c.exit) return; // ended meanwhile: its exit tells
        c.child.stdin?.end(GO_LINE);
        return;
      }
      case "forget": {
        const c = this.children.get(m.id);
        if (c?.exit) this.children.delete(m.id);
        return;
      }
    }
  }

  // ---- spawning and ends ----------------------------------------------------------------

  private spawn(req: SpawnRequest): void {
    if (this.children.has(req.id)) {
      this.send({ op: "failed", id: req.id, message: `The launcher already supervises a container '${req.id}'` });
      return;
    }
    if (this.expiring) {
      this.send({ op: "failed", id: req.id, message: "The launcher is killing its containers (the agent stayed away for the recovery timeout)" });
      return;
    }
    try {
      if (!statSync(req.cwd, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`the working directory ${req.cwd} is not a directory`);
      let c: { child: ChildProcess; pid: number; startTime: number } | undefined;
      if (req.gate) {
        c = this.gates.take(req, req.gate);
        if (!c) {
          this.send({ op: "failed", id: req.id, message: `The pre-forked gate ${req.gate.pid} died before it was used` });
          return;
        }
      } else if (gateable(req)) {
        c = this.gates.forkFor(req);
      } else {
        c = this.fork(req);
        if (!c) return; // 'error' follows
      }
      this.children.set(req.id, { req, ...c });
      c.child.once("exit", (code, signal) => void this.ended(this.children.get(req.id)!, code, signal));
      if (req.go) c.child.stdin!.end(GO_LINE);
      this.send({ op: "spawned", id: req.id, pid: c.pid, startTime: c.startTime });
    } catch (e) {
      this.send({ op: "failed", id: req.id, message: `Could not start the launch wrapper: ${(e as Error).message}` });
    }
  }

  /** Forks the wrapper on demand with its own argv, environment and output files (a container that cannot run on a gate). */
  private fork(req: SpawnRequest): { child: ChildProcess; pid: number; startTime: number } | undefined {
    let out: number | undefined;
    let err: number | undefined;
    try {
      out = openSync(req.stdout, "a", 0o644);
      err = openSync(req.stderr, "a", 0o644);
      if (req.owner) {
        fchownSync(out, req.owner.uid, req.owner.gid);
        fchownSync(err, req.owner.uid, req.owner.gid);
      }
      const child = spawn("/bin/sh", req.args, { cwd: req.cwd, env: req.env, detached: true, stdio: ["pipe", out, err] });
      child.stdin!.on("error", () => undefined); // the gate may be gone already; its exit tells
      child.once("error", (e) => {
        if (child.pid === undefined) this.send({ op: "failed", id: req.id, message: `Could not start the launch wrapper: ${e.message}` });
      });
      const pid = child.pid;
      if (pid === undefined) return undefined;
      return { child, pid, startTime: readStatSync(pid)?.startTime ?? 0 };
    } finally {
      if (out !== undefined) closeSync(out);
      if (err !== undefined) closeSync(err);
    }
  }

  private async ended(c: Supervised, exitCode: number | null, signal: NodeJS.Signals | null): Promise<void> {
    let sessionEmpty = false;
    if (c.req.procsFiles.length === 0) {
      const deadline = Date.now() + SESSION_KILL_MS;
      while (!sessionEmpty && Date.now() < deadline) {
        sessionEmpty = (await killSession(c.pid)).length === 0;
        if (!sessionEmpty) await sleep(10);
      }
    }
    c.exit = { op: "exit", id: c.req.id, pid: c.pid, exitCode, signal, sessionEmpty };
    this.send(c.exit);
    if (!this.agent) {
      // Nobody to tell: the recorder's status file says how the command ended.
      this.children.delete(c.req.id);
      this.exitIfIdle();
    }
  }

  private live(): Supervised[] {
    return [...this.children.values()].filter((c) => !c.exit);
  }

  // ---- without an agent ------------------------------------------------------------------

  private agentAway(): void {
    for (const [id, c] of this.children) if (c.exit) this.children.delete(id);
    if (this.exitIfIdle()) return;
    this.o.log("No agent attached; containers are killed if none attaches within the recovery timeout", { recoveryTimeoutMs: this.recoveryTimeoutMs, containers: this.live().length });
    this.awayTimer = setTimeout(() => void this.expire(), this.recoveryTimeoutMs);
  }

  private exitIfIdle(): boolean {
    if (this.agent || this.live().length > 0 || this.closed) return false;
    this.close();
    return true;
  }

  /** The agent stayed away for the recovery timeout: destroy every container, then exit. */
  private async expire(): Promise<void> {
    if (this.agent) return;
    this.expiring = true;
    this.gates.close();
    const live = this.live();
    this.o.log("The agent stayed away for the recovery timeout: killing the containers", { recoveryTimeoutMs: this.recoveryTimeoutMs, containers: live.map((c) => c.req.id) });
    await Promise.all(live.map((c) => this.destroy(c)));
    this.exitIfIdle();
  }

  private async destroy(c: Supervised): Promise<void> {
    const statusFile = join(c.req.runtimeDir, STATUS_FILE);
    const deadline = Date.now() + c.req.killGraceMs;
    const gone = new Promise<void>((r) => (c.exit ? r() : c.child.once("exit", () => r())));
    let ended = false;
    void gone.then(() => (ended = true));
    // The marker even without a grace: the agent that comes back reports a kill (TASK_KILLED), not a SIGKILL from nowhere (TASK_FAILED).
    try {
      writeFileSync(statusFile + DESTROYING_SUFFIX, String(deadline));
    } catch (e) {
      this.o.log("Could not write the destroy marker", { container: c.req.id, err: (e as Error).message });
    }
    if (c.req.killGraceMs > 0) {
      const signalled = new Set<string>();
      while (!ended && Date.now() < deadline) {
        const procs = await this.processes(c);
        if (existsSync(statusFile) && procs.every((p) => p.pid === c.pid || p.ppid === c.pid)) break;
        const fresh = procs.filter((p) => p.pid !== c.pid && !signalled.has(`${p.pid} ${p.comm}`));
        signalEach(fresh.map((p) => p.pid), "SIGTERM");
        for (const p of fresh) signalled.add(`${p.pid} ${p.comm}`);
        await Promise.race([gone, sleep(Math.min(KILL_POLL_MS, Math.max(0, deadline - Date.now())))]);
      }
    }
    // No status recorded (none, or an empty file: the recorder killed between its create and its write).
    const killed = readExitStatusFile(statusFile) === undefined;
    while (!ended) {
      this.killAll(c);
      await Promise.race([gone, sleep(KILL_POLL_MS)]);
    }
    if (killed && readExitStatusFile(statusFile) === undefined) {
      // The command was SIGKILLed with its recorder: that is how it ended.
      writeFileSync(statusFile + ".tmp", "137\n");
      renameSync(statusFile + ".tmp", statusFile);
    }
    this.o.log("Container killed", { container: c.req.id });
  }

  private async processes(c: Supervised): Promise<{ pid: number; ppid: number; comm: string }[]> {
    const inSession = await sessionProcesses(c.pid);
    const pids = new Set(inSession.map((p) => p.pid));
    const more = cgroupPids(c.req.procsFiles).filter((pid) => !pids.has(pid));
    const stats = await Promise.all(more.map((pid) => readStat(pid)));
    return [...inSession, ...stats.filter((s) => s !== undefined && s.state !== "Z")] as { pid: number; ppid: number; comm: string }[];
  }

  private killAll(c: Supervised): void {
    try {
      process.kill(-c.pid, "SIGKILL");
    } catch {
      // the group is gone
    }
    for (const file of c.req.procsFiles) {
      const killFile = join(dirname(file), "cgroup.kill");
      if (existsSync(killFile)) {
        try {
          writeFileSync(killFile, "1");
        } catch {
          // fall back to the pids below
        }
      }
    }
    signalEach(cgroupPids(c.req.procsFiles), "SIGKILL");
    void killSession(c.pid);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.awayTimer) clearTimeout(this.awayTimer);
    this.o.log("Launcher exits: no agent attached and no container left");
    this.gates.close();
    this.server.close();
    try {
      unlinkSync(this.o.socketPath);
    } catch {
      // gone already
    }
    (this.o.exit ?? (() => process.exit(0)))();
  }
}

function cgroupPids(files: readonly string[]): number[] {
  const pids: number[] = [];
  for (const f of files) {
    try {
      for (const line of readFileSync(f, "utf8").split("\n")) if (line) pids.push(Number(line));
    } catch {
      // the cgroup is gone
    }
  }
  return pids;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
