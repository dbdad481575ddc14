/**
 * What the agent and its warm launcher (launcher-server.ts) say to each other over the
 * launcher's unix socket: frames of a 4-byte big-endian length and that many bytes of JSON,
 * at most MAX_FRAME_BYTES. A frame that is too large or not a valid message is refused with
 * a clear reason (the reader throws FrameError); neither side ever crashes on one.
 *
 * Agent → launcher:
 * - `hello`: the agent (re)attaches, saying how many wrappers the launcher is to fork ahead
 *   of need (`gates`, launcher-gates.ts; none when absent); the launcher answers `hello`
 *   with its pid and every container it knows (running, or ended and not yet forgotten,
 *   with how).
 * - `spawn`: start a container's launch wrapper (its argv, environment, working directory,
 *   output files); answered `spawned` (pid and start time) or `failed`. With `gate`, on
 *   that pre-forked gate (one the launcher announced; the agent knew its pid before asking
 *   and placed it in the cgroups), and with `go` the gate is told to run the command at once;
 *   `failed` then means the gate was gone.
 * - `go`: tell that wrapper's gate to run the command (the agent isolated it meanwhile).
 * - `forget`: the agent has the end of that container; the launcher drops it.
 * Launcher → agent: `exit` when a wrapper ended (its own status, and whether its session
 * was emptied), `gates` when gates are forked for this agent (or die unused), besides the
 * answers above.
 */

/** The most pre-forked gates a launcher keeps. */
export const MAX_GATES = 64;

/** The largest frame either side accepts (an environment of a few hundred KiB fits). */
export const MAX_FRAME_BYTES = 1 << 20;

export interface SpawnRequest {
  op: "spawn";
  id: string;
  /** argv after /bin/sh (launcherArgs). */
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Appended to (created 0644), owned by `owner` when given. */
  stdout: string;
  stderr: string;
  owner?: { uid: number; gid: number };
  /** The container's runtime directory (its exit_status, written by the recorder). */
  runtimeDir: string;
  /** The kill grace to give the container if the agent stays away for the recovery timeout. */
  killGraceMs: number;
  /** cgroup.procs files of the container (cgroups isolator): its processes beyond the session. */
  procsFiles: string[];
  /** A pre-forked gate the launcher announced, to run this container on (launcher-gates.ts). */
  gate?: GateId;
  /** Say "go" right away (the agent placed the gate in the cgroups before asking). */
  go?: boolean;
}

/** A pre-forked gate: its pid and start time (the two name one process for good). */
export interface GateId {
  pid: number;
  startTime: number;
}

export type ToLauncher =
  | { op: "hello"; recoveryTimeoutMs: number; gates?: number }
  | SpawnRequest
  | { op: "go"; id: string }
  | { op: "forget"; id: string };

export interface ExitReport {
  op: "exit";
  id: string;
  pid: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** No process of the wrapper's session was left when this was sent (the launcher killed the rest). */
  sessionEmpty: boolean;
}

export interface KnownContainer {
  id: string;
  pid: number;
  startTime: number;
  exit?: ExitReport;
}

export type FromLauncher =
  | { op: "hello"; pid: number; containers: KnownContainer[] }
  | { op: "spawned"; id: string; pid: number; startTime: number }
  | { op: "failed"; id: string; message: string }
  | { op: "gates"; ready: GateId[]; gone: number[] }
  | ExitReport
  | { op: "error"; message: string };

export class FrameError extends Error {}

export function encodeFrame(message: ToLauncher | FromLauncher): Buffer {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  if (body.length > MAX_FRAME_BYTES) throw new FrameError(`A ${message.op} message of ${body.length} bytes is over the ${MAX_FRAME_BYTES}-byte frame limit`);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/** Cuts a byte stream into JSON frames; throws FrameError on a frame over the limit or not JSON. */
export class FrameReader {
  private buffered: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): unknown[] {
    this.buffered.push(chunk);
    this.size += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.size < 4) return out;
      const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.size);
      this.buffered = [all];
      const length = all.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) throw new FrameError(`Frame of ${length} bytes is over the ${MAX_FRAME_BYTES}-byte limit`);
      if (this.size < 4 + length) return out;
      const body = all.subarray(4, 4 + length).toString("utf8");
      const rest = all.subarray(4 + length);
      this.buffered = rest.length ? [rest] : [];
      this.size = rest.length;
      try {
        out.push(JSON.parse(body));
      } catch {
        throw new FrameError(`Frame of ${length} bytes is not JSON`);
      }
    }
  }
}

const isString = (v: unknown): v is string => typeof v === "string";
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isNat = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/** Checks a frame from the agent; throws FrameError saying what is wrong. */
export function parseToLauncher(v: unknown): ToLauncher {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new FrameError("A message must be a JSON object");
  const m = v as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new FrameError(`Invalid ${String(m.op)} message: ${what}`);
  };
  switch (m.op) {
    case "hello":
      if (!isNat(m.recoveryTimeoutMs)) bad("recoveryTimeoutMs must be a non-negative integer");
      if (m.gates !== undefined && !(isNat(m.gates) && m.gates <= MAX_GATES)) bad(`gates must be an integer from 0 to ${MAX_GATES}`);
      return { op: "hello", recoveryTimeoutMs: m.recoveryTimeoutMs as number, ...(m.gates === undefined ? {} : { gates: m.gates as number }) };
    case "go":
    case "forget":
      if (!isString(m.id) || m.id.length === 0) bad("id must be a non-empty string");
      return { op: m.op, id: m.id as string };
    case "spawn": {
      if (!isString(m.id) || m.id.length === 0) bad("id must be a non-empty string");
      if (!isStringArray(m.args) || m.args.length === 0) bad("args must be a non-empty array of strings");
      for (const k of ["cwd", "stdout", "stderr", "runtimeDir"] as const) if (!isString(m[k]) || !(m[k] as string).startsWith("/")) bad(`${k} must be an absolute path`);
      const env = m.env;
      if (typeof env !== "object" || env === null || Array.isArray(env) || !Object.values(env).every(isString)) bad("env must be an object of strings");
      if (!isNat(m.killGraceMs)) bad("killGraceMs must be a non-negative integer");
      if (!isStringArray(m.procsFiles)) bad("procsFiles must be an array of strings");
      const owner = m.owner as { uid?: unknown; gid?: unknown } | undefined;
      if (owner !== undefined && (typeof owner !== "object" || owner === null || !isNat(owner.uid) || !isNat(owner.gid))) bad("owner must be {uid, gid}");
      const gate = m.gate as { pid?: unknown; startTime?: unknown } | undefined;
      if (gate !== undefined && (typeof gate !== "object" || gate === null || !isNat(gate.pid) || !isNat(gate.startTime))) bad("gate must be {pid, startTime}");
      if (m.go !== undefined && typeof m.go !== "boolean") bad("go must be a boolean");
      return m as unknown as SpawnRequest;
    }
    default:
      throw new FrameError(`Unknown message op ${JSON.stringify(m.op)}`);
  }
}
