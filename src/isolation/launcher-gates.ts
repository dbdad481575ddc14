/**
 * Pre-forked gates: launch wrappers the warm launcher (launcher-server.ts) forks before a
 * container needs one, so that a launch does not wait for a fork.
 *
 * Why. Node forks synchronously: `child_process.spawn` blocks the launcher until the child
 * has exec'd (on a busy 2-core host, until the child was scheduled), so the launcher forked
 * one wrapper at a time and, with 20 launches in flight, each waited behind the others'
 * forks (about half of RunTask → TASK_RUNNING in the `containers` bench). A pre-forked gate
 * is already there, and the agent knows it: the launcher announces each gate it forks to the
 * attached agent (`gates`: pid and start time; and the ones that died unused), the agent
 * takes one for a launch without asking (pid known at once, checked in /proc), places it in
 * the container's cgroups and sends one `spawn` naming the gate, with "go". The pool is
 * refilled one fork per turn of the launcher's event loop, between the agent's messages.
 * Gates are only used when the agent names them: a spawn without a gate forks on demand,
 * so no gate the agent was told about is given to another container.
 *
 * What a gate is. `/bin/sh -c POOLED_GATE_SCRIPT` (launcher.ts), detached (its own session
 * and process group, as every wrapper), with an empty environment, its stdin a pipe from
 * the launcher and its output on /dev/null, waiting for one line. For a container the
 * launcher writes the gate file (`gate.sh` in the container's runtime directory: export of
 * each environment variable, `cd` to the sandbox, stdout and stderr appended to the
 * sandbox's files, the rest of the wrapper's argv as `set --`) and sends its path; the gate
 * sources it and is then exactly the gate of an on-demand wrapper: it waits for "go" while
 * the agent places it in the container's cgroups, then execs the isolators' prefix
 * (namespaces: `unshare`, whose PID namespace is made after "go", for the recorder) and the
 * recorder; without a prefix the gate file hands the gate the recorder's script and
 * arguments and the gate runs it itself (one /bin/sh exec less per task). A container that
 * names no gate but could run on one is forked on demand as a gate (forkFor), given its
 * gate file at once. The command's environment is the same as an on-demand wrapper's (the given
 * variables and the PWD the shell sets); what a shell would interpret (IFS, PS4, PWD, names
 * that are not shell identifiers, …) is not given to a gate: such a container is forked on
 * demand as before.
 *
 * A gate that dies before it is used (killed, or its stat says zombie) is dropped as soon as
 * its exit is seen (and the agent told), or when it is asked for: the launcher answers
 * `failed`, and the agent reports that container's launch failed (the command never ran). A gate never used exits 125 when its pipe
 * closes: when the launcher closes the pool (it exits) or dies (kill -9): nothing is left.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, fchownSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterGate, GATE_FILE, POOLED_GATE_SCRIPT, RECORDER_NAME } from "./launcher.js";
import { MAX_GATES, type GateId, type SpawnRequest } from "./launcher-protocol.js";
import { readStatSync } from "./proc.js";

/** A gate waiting in the pool. */
export interface Gate {
  child: ChildProcess;
  pid: number;
  startTime: number;
}

/** Variables the shell itself interprets or sets: a container whose environment has one is forked on demand. */
const SHELL_OWNED = new Set(["IFS", "PS1", "PS2", "PS4", "OPTIND", "PPID", "ENV", "CDPATH", "LINENO", "PWD", "OLDPWD", "dcos_gate_file", "dcos_gate_go", "dcos_gate_recorder"]);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class GatePool {
  private ready: Gate[] = [];
  private size = 0;
  private filling = false;
  private closed = false;

  constructor(
    private readonly log: (msg: string, fields?: Record<string, unknown>) => void,
    /** Told of gates forked and of gates that died unused (the launcher passes it on to its agent). */
    private readonly announce: (ready: GateId[], gone: number[]) => void,
  ) {}

  /** Keeps `size` gates ready (0: none; the ones beyond it are let go). */
  resize(size: number): void {
    this.size = Math.min(Math.max(0, size), MAX_GATES);
    while (this.ready.length > this.size) release(this.ready.pop()!);
    this.refill();
  }

  /** The gates waiting (a new agent is told of them). */
  waiting(): GateId[] {
    return this.ready.map((g) => ({ pid: g.pid, startTime: g.startTime }));
  }

  /**
   * The gate `id`, given the container's gate file (written into its runtime directory) and
   * its output files (created here when owned by `owner`, else by the gate's own redirection); undefined when that gate is not waiting
   * any more (it died). Throws when the container cannot run on a gate or a file cannot be
   * written (the launch fails, as a failed fork did).
   */
  take(req: SpawnRequest, id: GateId): Gate | undefined {
    const rest = afterGate(req.args);
    const script = rest && gateFile(req, rest);
    if (!script) throw new Error("this container cannot run on a pre-forked gate (its argv or environment is not for one)");
    const i = this.ready.findIndex((g) => g.pid === id.pid && g.startTime === id.startTime);
    if (i < 0) return undefined;
    const [gate] = this.ready.splice(i, 1) as [Gate];
    this.refill();
    if (!alive(gate)) {
      this.log("A pre-forked gate died before it was used; dropped", { pid: gate.pid });
      release(gate);
      return undefined;
    }
    return give(gate, req, script);
  }

  /**
   * A gate forked now for a container that names none (the agent found the pool empty) and
   * can run on one (gateable): the same gate file as a pooled gate, so it too runs the
   * recorder itself, and the launcher neither copies its environment into the fork nor opens
   * the output files. Throws when the fork failed or as take().
   */
  forkFor(req: SpawnRequest): Gate {
    const rest = afterGate(req.args);
    const script = rest && gateFile(req, rest);
    if (!script) throw new Error("this container cannot run on a gate (its argv or environment is not for one)");
    const gate = forkGate((e) => this.log("Could not fork a gate", { err: e.message }));
    if (!gate) throw new Error("could not fork a gate");
    return give(gate, req, script);
  }

  /** Lets every waiting gate go (each reads end-of-file and exits 125). */
  close(): void {
    this.closed = true;
    for (const g of this.ready) release(g);
    this.ready = [];
  }

  /** One fork per turn of the event loop, so that the agent's messages are read in between. */
  private refill(): void {
    if (this.filling || this.closed || this.ready.length >= this.size) return;
    this.filling = true;
    setImmediate(() => {
      this.filling = false;
      if (this.closed || this.ready.length >= this.size) return;
      this.fork();
      this.refill();
    });
  }

  private fork(): void {
    let gate: Gate | undefined;
    try {
      gate = forkGate((e) => this.log("Could not pre-fork a gate", { err: e.message }));
    } catch (e) {
      this.log("Could not pre-fork a gate", { err: (e as Error).message });
      return;
    }
    if (!gate) return;
    const { child, pid } = gate;
    // Dropped from the pool when it dies there; once taken, its exit is the launcher's business.
    child.once("exit", () => {
      const i = this.ready.indexOf(gate);
      if (i < 0) return;
      this.ready.splice(i, 1);
      this.log("A pre-forked gate died before it was used; dropped", { pid });
      this.announce([], [pid]);
      this.refill();
    });
    this.ready.push(gate);
    this.announce([{ pid, startTime: gate.startTime }], []);
  }
}

/** Forks a gate (`/bin/sh -c POOLED_GATE_SCRIPT`, detached, empty environment, waiting on its stdin); undefined when it got no pid (`failed` is then told 'error'). */
function forkGate(failed?: (e: Error) => void): Gate | undefined {
  const child = spawn("/bin/sh", ["-c", POOLED_GATE_SCRIPT, "dcos-gate"], { cwd: "/", env: {}, detached: true, stdio: ["pipe", "ignore", "ignore"] });
  child.stdin!.on("error", () => undefined); // a gate gone: its exit tells
  if (failed) child.once("error", failed);
  const pid = child.pid;
  if (pid === undefined) return undefined;
  return { child, pid, startTime: readStatSync(pid)?.startTime ?? 0 };
}

/** Gives `gate` its container: writes the gate file (and the output files when owned by the task's user) and sends its path. */
function give(gate: Gate, req: SpawnRequest, script: string): Gate {
  try {
    const file = join(req.runtimeDir, GATE_FILE);
    // The gate's own `exec >>` creates the output files; made here only when they must be
    // chowned to the task's user (each create is a journal wait in this one thread: 1–2 ms at load).
    if (req.owner) {
      createOutput(req.stdout, req.owner);
      createOutput(req.stderr, req.owner);
    }
    writeFileSync(file, script, { mode: 0o600 });
    gate.child.stdin!.write(`${file}\n`);
  } catch (e) {
    release(gate);
    throw e;
  }
  return gate;
}

function alive(g: Gate): boolean {
  const stat = g.child.exitCode === null && g.child.signalCode === null ? readStatSync(g.pid) : undefined;
  return stat !== undefined && stat.state !== "Z" && stat.startTime === g.startTime;
}

/** Whether a container can run on a pre-forked gate (its argv is the gate's and its environment is for one). */
export function gateable(req: SpawnRequest): boolean {
  const rest = afterGate(req.args);
  return rest !== undefined && fitsGate(req, rest);
}

/** Whether the environment and argv can be written into a gate file (the checks of gateFile, without building it). */
function fitsGate(req: SpawnRequest, rest: readonly string[]): boolean {
  for (const [name, value] of Object.entries(req.env)) {
    if (!IDENTIFIER.test(name) || SHELL_OWNED.has(name) || value.includes("\0")) return false;
  }
  return !rest.some((a) => a.includes("\0")) && ![req.cwd, req.stdout, req.stderr].some((p) => p.includes("\0"));
}

function release(g: Gate): void {
  g.child.stdin?.end();
  g.child.unref();
}

function createOutput(path: string, owner: SpawnRequest["owner"]): void {
  const fd = openSync(path, "a", 0o644);
  try {
    if (owner) fchownSync(fd, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
}

/** `'…'` for the shell: every byte literal (a quote is closed, escaped and reopened). */
function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The gate file of a container, or undefined when its environment or argv is not for a gate. */
export function gateFile(req: SpawnRequest, rest: readonly string[]): string | undefined {
  if (!fitsGate(req, rest)) return undefined;
  const lines: string[] = [];
  for (const [name, value] of Object.entries(req.env)) lines.push(`export ${name}=${quote(value)}`);
  lines.push(`cd -- ${quote(req.cwd)} || exit 125`);
  lines.push("unset OLDPWD");
  lines.push(`exec >>${quote(req.stdout)} 2>>${quote(req.stderr)}`);
  // Without an isolator's prefix the wrapper's argv goes on with the recorder (`/bin/sh -c
  // RECORDER dcos-launch <status file> <command>`): the gate runs that script itself, with
  // the recorder's arguments, rather than exec a second /bin/sh to run it.
  const recorder = rest[0] === "/bin/sh" && rest[1] === "-c" && rest[3] === RECORDER_NAME && rest[2] !== undefined;
  if (recorder) lines.push(`dcos_gate_recorder=${quote(rest[2]!)}`);
  lines.push(`set -- ${(recorder ? rest.slice(4) : rest).map(quote).join(" ")}`);
  return lines.join("\n") + "\n";
}
