/**
 * One Raft member in its own process, for the real-process test and the benchmark:
 * `node raft-member.js '<json MemberConfig>'`, driven by its parent over the IPC channel
 * (see raft-processes.ts). Members talk over the gRPC transport on loopback and keep
 * their log on disk with real fdatasync.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { RegistrySnapshotSchema } from "../../src/gen/dcos/v1/registry_pb.js";
import { FrameworkLogCommandSchema } from "../../src/gen/dcos/v1/replicated_log_pb.js";
import { asDcosError } from "../../src/runtime/error.js";
import { createLogger, silentLogger } from "../../src/runtime/log.js";
import { Pid } from "../../src/runtime/pid.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { GrpcTransport } from "../../src/runtime/transports/grpc.js";
import { RaftNode, type RaftTraceMark } from "../../src/raft/raft-node.js";
import { FrameworkLogs, decodeLogResult, encodeLogResult } from "../../src/raft/framework-logs.js";
import { protoDecoder, protoEncoder } from "../../src/runtime/proto-codec.js";
import { addReplicatedLogService } from "../../src/raft/log-service.js";
import { ReplicatedStateMachine } from "../../src/raft/replicated-state-machine.js";
import { raftTiming } from "../../src/raft/timing.js";
import type { RestoreSteps, SnapshotPieces, StateMachine } from "../../src/raft/state-machine.js";
import { decodeInSteps } from "../../src/raft/decode-steps.js";
import { DurableStorage } from "../../src/raft/storage/durable-storage.js";
import { LoopProbe } from "./loop-probe.js";
import { pacedLatencies } from "./paced.js";
import { ListMachine, bytes } from "./raft-cluster.js";
import { BENCH_LOG } from "./raft-processes.js";

export interface MemberConfig {
  dir: string;
  port: number;
  /** Addresses (host:port) of all members, this one included. */
  peers: string[];
  /**
   * "list" keeps every applied command (for checks); "count" only counts (for the
   * benchmark); "logs" is the frameworks' replicated logs (FrameworkLogs), served over gRPC
   * by the ReplicatedLogService as on a master, so a client's Append is a proposal.
   */
  machine: "list" | "count" | "logs";
  /** Raft timing as a master's flags give it (`--raft-tick`, `--raft-election-timeout`); default RaftNode's own (50 ms ticks, 0.5-1 s elections). */
  timing?: { tickMs: number; electionTimeoutMs: number };
}

/** Requests the parent sends; each is answered with { id, ok, value | error }. */
export type MemberRequest =
  | { id: number; cmd: "status" }
  | { id: number; cmd: "exit" }
  | { id: number; cmd: "metrics" }
  | { id: number; cmd: "cpu" }
  | { id: number; cmd: "items" }
  | { id: number; cmd: "write"; values: string[]; window: number }
  | { id: number; cmd: "tryWrite" }
  | { id: number; cmd: "load"; durationMs: number; window: number; size: number }
  | { id: number; cmd: "paced"; durationMs: number; perSecond: number; size: number }
  | { id: number; cmd: "probeStart" }
  | { id: number; cmd: "probeStop" }
  | { id: number; cmd: "traceStart" }
  | { id: number; cmd: "traceStop" };

/** Trace marks (RaftTraceMark) of one member: per mark, entry index → time (ms since the epoch, sub-ms; comparable across processes on one host). */
export type TraceMarks = Record<string, Record<number, number>>;

/** Counts applied commands; the benchmark's machine (keeps no data). */
class CountMachine implements StateMachine {
  count = 0;
  apply(): Uint8Array {
    this.count++;
    return new Uint8Array(0);
  }
  snapshot(): Uint8Array {
    return bytes(String(this.count));
  }
  restore(state: Uint8Array): void {
    this.count = Number(new TextDecoder().decode(state));
  }
}

const decodeLogCommand = protoDecoder(FrameworkLogCommandSchema);
const encodeLogCommand = protoEncoder(FrameworkLogCommandSchema);

/** The masters' FrameworkLogs as the whole state machine: each entry is one FrameworkLogCommand (decoded and answered as the masters' RegistryMachine does). */
class LogsMachine implements StateMachine {
  readonly logs = new FrameworkLogs();
  apply(command: Uint8Array): Uint8Array {
    return encodeLogResult(this.logs.apply(decodeLogCommand(command)));
  }
  snapshot(): Uint8Array {
    return this.logs.encodeSnapshot();
  }
  /** In slices, as the masters' registry machine (RaftNode.maybeCompact). */
  snapshotPieces(): SnapshotPieces {
    return this.logs.snapshotPieces();
  }
  restore(state: Uint8Array): void {
    this.logs.restore(fromBinary(RegistrySnapshotSchema, state).frameworkLogs);
  }
  /** In slices, as the masters' registry machine (RaftNode.restoreSlice). */
  *restoreSteps(state: Uint8Array): RestoreSteps {
    const s = yield* decodeInSteps(RegistrySnapshotSchema, state);
    this.logs.restore(s.frameworkLogs);
  }
}

const config = JSON.parse(process.argv[2]!) as MemberConfig;
const logger = process.env.DCOS_TEST_LOG ? createLogger({ level: "info", pretty: false }) : silentLogger();
const transport = await GrpcTransport.listen({ host: "127.0.0.1", port: config.port, logger });
const system = new ActorSystem({ transport, logger });
await system.start();
const storage = await DurableStorage.open({ dir: config.dir, log: logger, metrics: system.metrics });
const machine: StateMachine = config.machine === "list" ? new ListMachine() : config.machine === "logs" ? new LogsMachine() : new CountMachine();
const timing = config.timing ? raftTiming(config.timing.tickMs, config.timing.electionTimeoutMs) : {};
let marks: TraceMarks | undefined;
/** The traced calls of `paced` (their k-th proposal's times), while tracing. */
let tracedCalls: { called: number; answered?: number }[] = [];
const trace = (mark: RaftTraceMark, index: number): void => {
  if (!marks) return;
  const m = (marks[mark] ??= {});
  m[index] ??= now();
};
const node = system.spawn(new RaftNode({ storage, machine, peers: config.peers.map((a) => new Pid("raft", a)), ...timing, trace }));
const api = new ReplicatedStateMachine(node);
if (machine instanceof LogsMachine) {
  addReplicatedLogService(transport.grpcServer, {
    propose: async (cmd) => decodeLogResult(await api.propose(encodeLogCommand(cmd))),
    read: (fn) => api.read((m) => fn((m as LogsMachine).logs)),
  });
}
api.onLeaderChange((leader, term) => process.send!({ event: "leader", leader: leader?.toString() ?? "", term }));

process.on("message", (req: MemberRequest) => {
  handle(req).then(
    (value) => process.send!({ id: req.id, ok: true, value }),
    (e: unknown) => {
      const err = asDcosError(e);
      process.send!({ id: req.id, ok: false, error: { code: err.code, message: err.message, details: err.details } });
    },
  );
});
process.send!({ event: "ready", address: transport.address });

let probe: LoopProbe | undefined;

async function handle(req: MemberRequest): Promise<unknown> {
  switch (req.cmd) {
    case "status":
      return api.status();
    case "cpu": {
      const u = process.cpuUsage();
      return u.user + u.system;
    }
    case "metrics":
      return system.metrics.snapshot();
    case "exit":
      setImmediate(() => process.exit(0));
      return true;
    case "items":
      return (machine as ListMachine).items;
    case "write":
      return write(req.values, req.window);
    case "tryWrite":
      await api.propose(bytes("probe"));
      return true;
    case "load":
      return load(req.durationMs, req.window, req.size);
    case "paced":
      return paced(req.durationMs, req.perSecond, req.size);
    case "probeStart":
      probe = LoopProbe.start();
      return true;
    case "traceStart":
      marks = {};
      return true;
    case "traceStop": {
      const out = marks;
      marks = undefined;
      if (out) markCalls(out);
      return out;
    }
    case "probeStop": {
      const stalls = probe?.stop();
      probe = undefined;
      return stalls;
    }
  }
}

/** Proposes the values with at most `window` in flight; reports each acknowledgement at once. */
async function write(values: string[], window: number): Promise<number> {
  let next = 0;
  let acked = 0;
  const worker = async (): Promise<void> => {
    while (next < values.length) {
      const v = values[next++]!;
      await api.propose(bytes(v));
      acked++;
      process.send!({ event: "acked", value: v });
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return acked;
}

/** A command of `size` bytes of data for this member's machine (for "logs": an Append of one record that size). */
function command(size: number): Uint8Array {
  const data = new Uint8Array(size).fill(7);
  if (config.machine !== "logs") return data;
  return encodeLogCommand(create(FrameworkLogCommandSchema, { log: BENCH_LOG, command: { case: "append", value: { log: BENCH_LOG, entries: [data] } } }));
}

/** Closed loop: `window` proposals always in flight for durationMs; returns applied proposals/s. */
async function load(durationMs: number, window: number, size: number): Promise<{ perSecond: number; done: number }> {
  const payload = command(size);
  const end = performance.now() + durationMs;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      await api.propose(payload);
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: window }, worker));
  return { perSecond: done / ((performance.now() - start) / 1000), done };
}

/** Open loop at a fixed rate; returns every proposal's commit latency in ms. */
function paced(durationMs: number, perSecond: number, size: number): Promise<number[]> {
  const payload = command(size);
  if (!marks) return pacedLatencies(durationMs, perSecond, () => api.propose(payload));
  // Traced: the k-th call is the k-th proposal this member makes (the facade keeps the
  // order), so its call and answer times are marked at the k-th proposed index (traceStop).
  tracedCalls = [];
  const calls = tracedCalls;
  return pacedLatencies(durationMs, perSecond, (k) => {
    calls[k] = { called: now() };
    return api.propose(payload).then(() => void (calls[k]!.answered = now()));
  });
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Marks "called" and "answered" at the indexes the traced calls' proposals got. */
function markCalls(m: TraceMarks): void {
  const proposed = Object.keys(m.proposed ?? {}).map(Number).sort((a, b) => a - b);
  const called: Record<number, number> = (m.called = {});
  const answered: Record<number, number> = (m.answered = {});
  tracedCalls.forEach((c, k) => {
    const i = proposed[k];
    if (i === undefined) return;
    called[i] = c.called;
    if (c.answered !== undefined) answered[i] = c.answered;
  });
  tracedCalls = [];
}
