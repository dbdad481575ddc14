/**
 * A task's stdout and stderr as they grow, as `docker run` shows them: `dcos-node run`'s
 * one-off framework and the run service (src/frameworks/run) copy them to the terminal or
 * to the HTTP stream. The task writes them into its sandbox on the agent; the reader finds
 * the agent's HTTP endpoint through the master's Operator API (GetAgents:
 * AgentInfo.http_port) and reads the agent's /files/read from the last offset of each
 * file, each file on its own: with `wait` (a long poll: the agent answers as soon as the
 * file grows), again at once while data flows (at most every MIN_READ_GAP_MS), every
 * OUTPUT_POLL_MS from an agent that does not wait (one that answers without the
 * dcos-files-wait header) or after an error. At the task's end the waiting reads are
 * cancelled and a last read takes whatever is left.
 */
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { GetAgentsRequestSchema, OperatorService, type GetAgentsResponse } from "../../gen/dcos/v1/operator_pb.js";
import type { AgentInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Clock, Timer } from "../../runtime/clock.js";
import { clientConstructor, fromServiceError } from "../../runtime/grpc/service.js";

/** Where the task's output goes (raw chunks, not lines). */
export interface OutputSinks {
  stdout(chunk: string): void;
  stderr(chunk: string): void;
}

/** Bytes asked for per /files/read. */
const CHUNK = 64 * 1024;
/** Time between two reads of a file from an agent that does not wait, or after an error. */
export const OUTPUT_POLL_MS = 250;
/** How long one read asks the agent to wait for its file to grow. */
export const OUTPUT_WAIT_MS = 10_000;
/** Least time between two reads of a file while data flows (a task writing a line per ms costs at most this many reads). */
export const MIN_READ_GAP_MS = 20;
const CALL_TIMEOUT_MS = 10_000;

/** The agent's own word (AgentInfo.http_port, on the host of its pid); undefined when it gave none. */
export function agentHttpOf(agent: AgentInfo): string | undefined {
  if (!agent.httpPort) return undefined;
  const address = agent.pid.slice(agent.pid.indexOf("@") + 1);
  return `${address.slice(0, address.lastIndexOf(":"))}:${agent.httpPort}`;
}

/**
 * host:port of the HTTP endpoint of agent `agentId`, as the master at `master` (gRPC
 * host:port) knows it; `options` carry the caller's credential (client-credential.ts).
 */
export async function agentHttpAddress(master: string, agentId: string, credentials = grpc.credentials.createInsecure(), options: grpc.ClientOptions = {}): Promise<string> {
  const Client = clientConstructor(OperatorService);
  const client = new Client(master, credentials, options);
  try {
    const response = await new Promise<GetAgentsResponse>((resolve, reject) =>
      (client as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: GetAgentsResponse) => void) => void>).getAgents!(
        create(GetAgentsRequestSchema),
        { deadline: Date.now() + CALL_TIMEOUT_MS },
        (err, r) => (err ? reject(fromServiceError(err, `GetAgents at ${master}`)) : resolve(r!)),
      ),
    );
    const agent = response.agents.find((a) => a.agentInfo?.id?.value === agentId)?.agentInfo;
    if (!agent) throw new Error(`the master ${master} does not know agent ${agentId}`);
    const address = agentHttpOf(agent);
    if (!address) throw new Error(`agent ${agentId} has no HTTP endpoint`);
    return address;
  } finally {
    client.close();
  }
}

export interface TaskOutputOptions {
  /** The agent's HTTP endpoint, host:port. */
  agentHttp: string;
  /** The task's sandbox on the agent (TaskStatus.sandbox_directory). */
  sandbox: string;
  sinks: OutputSinks;
  clock: Clock;
  /** A problem reading the files, reported once until reading works again. */
  warn(message: string): void;
  /** Sent with every read (the reader's credential); default none. */
  authorization?: string;
}

type Stream = "stdout" | "stderr";

/** What one read of a file gave. */
interface ReadResult {
  /** Data came. */
  data: boolean;
  /** A whole chunk came: more is probably there. */
  whole: boolean;
  /** The agent waited for the file to grow (it answers `dcos-files-wait`). */
  waited: boolean;
}

const nothing: ReadResult = { data: false, whole: false, waited: false };

/** Follows <sandbox>/stdout and <sandbox>/stderr and copies what is new to the sinks. */
export class TaskOutput {
  private readonly offsets: Record<Stream, number> = { stdout: 0, stderr: 0 };
  private readonly following: Promise<void>[] = [];
  private readonly cancel = new AbortController();
  private stopped = false;
  private failing = false;

  constructor(private readonly o: TaskOutputOptions) {}

  start(): void {
    for (const stream of ["stdout", "stderr"] as const) this.following.push(this.follow(stream));
  }

  /** Stops following after one last read of everything left. */
  async finish(): Promise<void> {
    this.stopped = true;
    this.cancel.abort();
    await Promise.all(this.following);
    for (const stream of ["stdout", "stderr"] as const) {
      try {
        while ((await this.readChunk(stream, true, 0)).whole);
      } catch (err) {
        this.failed(stream, err);
      }
    }
  }

  private async follow(stream: Stream): Promise<void> {
    while (!this.stopped) {
      let pause = 0;
      try {
        const r = await this.readChunk(stream, false, OUTPUT_WAIT_MS);
        this.failing = false;
        // A whole chunk: read on at once. Some data: again soon (that read waits). Nothing
        // after a wait: ask again at once. Nothing from an agent that does not wait: poll.
        pause = r.whole ? 0 : r.data ? MIN_READ_GAP_MS : r.waited ? 0 : OUTPUT_POLL_MS;
      } catch (err) {
        if (this.stopped) return;
        this.failed(stream, err);
        pause = OUTPUT_POLL_MS;
      }
      if (pause > 0 && !this.stopped) await this.sleep(pause);
    }
  }

  private failed(stream: Stream, err: unknown): void {
    if (!this.failing) this.o.warn(`Cannot read the task's ${stream} from agent ${this.o.agentHttp}: ${(err as Error).message}`);
    this.failing = true;
  }

  /** Waits `ms` on the clock, or until finish(). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: Timer | undefined;
      const woken = (): void => {
        timer?.cancel();
        resolve();
      };
      this.cancel.signal.addEventListener("abort", woken, { once: true });
      timer = this.o.clock.setTimer(ms, () => {
        this.cancel.signal.removeEventListener("abort", woken);
        resolve();
      });
    });
  }

  /** Reads from the file's offset, asking the agent to wait up to `waitMs` for more. */
  private async readChunk(stream: Stream, final: boolean, waitMs: number): Promise<ReadResult> {
    const path = `${this.o.sandbox}/${stream}`;
    const url = `http://${this.o.agentHttp}/files/read?path=${encodeURIComponent(path)}&offset=${this.offsets[stream]}&length=${CHUNK}${waitMs > 0 ? `&wait=${waitMs}` : ""}`;
    const timeout = AbortSignal.timeout(CALL_TIMEOUT_MS + waitMs);
    const response = await fetch(url, {
      signal: final ? timeout : AbortSignal.any([timeout, this.cancel.signal]),
      ...(this.o.authorization ? { headers: { authorization: this.o.authorization } } : {}),
    });
    const waited = response.headers.has("dcos-files-wait");
    if (response.status === 404) {
      await response.body?.cancel();
      return nothing; // not created yet
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
    let { data } = (await response.json()) as { data: string; offset: number };
    if (data === "") return { ...nothing, waited };
    const whole = Buffer.byteLength(data) >= CHUNK;
    // A multi-byte character cut at the chunk's end decodes as U+FFFD: read it again next time.
    if (!final) data = data.replace(/\uFFFD+$/, "");
    this.offsets[stream] += Buffer.byteLength(data);
    if (data !== "") this.o.sinks[stream](data);
    // Only a cut character came: it counts as data (read again soon, not at once).
    return { data: true, whole: whole && data !== "", waited };
  }
}
