/**
 * A task's stdout and stderr as they grow, as `docker run` shows them: `dcos-node run`'s
 * one-off framework and the run service (src/frameworks/run) copy them to the terminal or
 * to the HTTP stream. The task writes them into its sandbox on the agent; the reader finds
 * the agent's HTTP endpoint through the master's Operator API (GetAgents:
 * AgentInfo.http_port) and polls the agent's /files/read from the last offset of each
 * file. At the task's end a last read takes whatever is left.
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
/** Time between two polls of the files. */
export const OUTPUT_POLL_MS = 250;
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

/** Polls <sandbox>/stdout and <sandbox>/stderr and copies what is new to the sinks. */
export class TaskOutput {
  private readonly offsets: Record<Stream, number> = { stdout: 0, stderr: 0 };
  private timer: Timer | undefined;
  private polling: Promise<void> = Promise.resolve();
  private stopped = false;
  private failing = false;

  constructor(private readonly o: TaskOutputOptions) {}

  start(): void {
    this.polling = this.poll(false).finally(() => this.schedule());
  }

  /** Stops polling after one last read of everything left. */
  async finish(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.polling;
    await this.poll(true);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimer(OUTPUT_POLL_MS, () => {
      this.polling = this.poll(false).finally(() => this.schedule());
    });
  }

  private async poll(final: boolean): Promise<void> {
    for (const stream of ["stdout", "stderr"] as const) {
      try {
        while (await this.readChunk(stream, final));
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.o.warn(`Cannot read the task's ${stream} from agent ${this.o.agentHttp}: ${(err as Error).message}`);
        this.failing = true;
      }
    }
  }

  /** Reads from the file's offset; true when a whole chunk came (more may follow). */
  private async readChunk(stream: Stream, final: boolean): Promise<boolean> {
    const path = `${this.o.sandbox}/${stream}`;
    const url = `http://${this.o.agentHttp}/files/read?path=${encodeURIComponent(path)}&offset=${this.offsets[stream]}&length=${CHUNK}`;
    const response = await fetch(url, {
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      ...(this.o.authorization ? { headers: { authorization: this.o.authorization } } : {}),
    });
    if (response.status === 404) return false; // not created yet
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
    let { data } = (await response.json()) as { data: string; offset: number };
    if (data === "") return false;
    const whole = Buffer.byteLength(data) >= CHUNK;
    // A multi-byte character cut at the chunk's end decodes as U+FFFD: read it again next time.
    if (!final) data = data.replace(/\uFFFD+$/, "");
    this.offsets[stream] += Buffer.byteLength(data);
    if (data !== "") this.o.sinks[stream](data);
    return whole && data !== "";
  }
}
