/**
 * The agent's local gRPC ExecutorService: executors the agent started connect back here
 * (the address is in their environment). Each Subscribe call becomes an ExecutorLink the
 * agent writes events to; Update and Message are unary calls answered once the agent has
 * taken them (an update: once it is checkpointed). Errors reach the executor as gRPC
 * statuses with the agent's message.
 */
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  ExecutorEventSchema,
  ExecutorService,
  ExecutorServiceMessageResponseSchema,
  ExecutorServiceSubscribeResponseSchema,
  ExecutorServiceUpdateResponseSchema,
  type ExecutorEvent,
  type ExecutorServiceMessageRequest,
  type ExecutorServiceSubscribeRequest,
  type ExecutorServiceSubscribeResponse,
  type ExecutorServiceUpdateRequest,
} from "../../gen/dcos/v1/executor_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { listenNoDelay, type MixedPort } from "../../runtime/grpc/mixed-port.js";
import { serviceDefinition, toStatus } from "../../runtime/grpc/service.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import type { ExecutorApi, ExecutorLink } from "./executor-link.js";
import type { ExecutorTokens } from "./executor-tokens.js";
import type { Counter, Metrics } from "../../metrics/metrics.js";

export interface ExecutorServerOptions {
  /** Default 127.0.0.1: executors run on this host. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Heartbeat events on idle streams; default 15 s. */
  heartbeatMs?: number;
  logger?: Logger;
  /** Check every call's executor token (none: calls are not authenticated, for tests). */
  tokens?: ExecutorTokens;
  metrics?: Metrics;
}

/** The framework and executor a call names, and the bearer token it carries. */
function callIdentity(call: { request: { frameworkId?: { value: string }; executorId?: { value: string } }; metadata: grpc.Metadata }) {
  const header = String(call.metadata.get("authorization")[0] ?? "");
  return {
    frameworkId: call.request.frameworkId?.value ?? "",
    executorId: call.request.executorId?.value ?? "",
    token: header.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : "",
  };
}

class StreamLink implements ExecutorLink {
  private ended = false;
  private lastWrite = Date.now();

  constructor(private readonly call: grpc.ServerWritableStream<ExecutorServiceSubscribeRequest, ExecutorServiceSubscribeResponse>) {}

  send(event: ExecutorEvent): void {
    if (this.ended) return;
    this.lastWrite = Date.now();
    this.call.write(create(ExecutorServiceSubscribeResponseSchema, { event }));
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.call.end();
  }

  fail(err: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.call.emit("error", toStatus(err));
  }

  idleFor(): number {
    return Date.now() - this.lastWrite;
  }

  get open(): boolean {
    return !this.ended;
  }

  markEnded(): void {
    this.ended = true;
  }
}

export class ExecutorServer {
  private readonly server = new grpc.Server();
  private api: ExecutorApi | undefined;
  private readonly links = new Set<StreamLink>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private endpointText = "";
  private readonly refused: Counter | undefined;
  private port: MixedPort | undefined;

  constructor(private readonly options: ExecutorServerOptions = {}) {
    this.log = (options.logger ?? silentLogger()).child({ component: "executor-service" });
    this.refused = options.metrics?.counter("slave/executor_calls_unauthenticated");
    this.server.addService(serviceDefinition(ExecutorService), {
      subscribe: (call: grpc.ServerWritableStream<ExecutorServiceSubscribeRequest, ExecutorServiceSubscribeResponse>) => {
        const problem = this.tokenProblem(call);
        if (problem) return void call.emit("error", toStatus(problem));
        this.subscribe(call);
      },
      update: (call: grpc.ServerUnaryCall<ExecutorServiceUpdateRequest, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        this.unary(call, cb, (api) => api.update(call.request), () => create(ExecutorServiceUpdateResponseSchema)),
      message: (call: grpc.ServerUnaryCall<ExecutorServiceMessageRequest, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        this.unary(call, cb, (api) => api.message(call.request), () => create(ExecutorServiceMessageResponseSchema)),
    });
  }

  /**
   * Binds and starts serving; resolves with the `host:port` to give executors. The port is
   * ours (listenNoDelay), so accepted connections have Nagle's algorithm off: each event to
   * an executor is an http2 frame header and payload written separately, and with Nagle on
   * the payload waited for the executor's delayed ACK (~40 ms on Linux) on a quiet stream.
   */
  async listen(): Promise<string> {
    const host = this.options.host ?? "127.0.0.1";
    this.port = await listenNoDelay(this.server, host, this.options.port ?? 0, grpc.ServerCredentials.createInsecure()).catch((err: Error) => {
      throw new DcosError(Code.UNAVAILABLE, `The executor service cannot listen on ${host}:${this.options.port ?? 0}: ${err.message}`, { cause: err });
    });
    const port = this.port.port;
    const every = this.options.heartbeatMs ?? 15_000;
    this.heartbeat = setInterval(() => {
      for (const l of this.links) if (l.open && l.idleFor() >= every) l.send(create(ExecutorEventSchema, { kind: { case: "heartbeat", value: {} } }));
    }, every);
    this.heartbeat.unref();
    this.endpointText = `${host}:${port}`;
    this.log.info({ endpoint: this.endpointText }, `Executor service listening on ${this.endpointText}`);
    return this.endpointText;
  }

  get endpoint(): string {
    return this.endpointText;
  }

  /** The agent that answers the calls (set once it exists: it needs the endpoint first). */
  attach(api: ExecutorApi): void {
    this.api = api;
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const l of this.links) l.close();
    // Streams end gracefully first (the closed links' trailers reach their executors), then
    // the port and any connection still open go.
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.port?.close();
    this.port = undefined;
  }

  private requireApi(): ExecutorApi {
    if (!this.api) throw new DcosError(Code.UNAVAILABLE, "The agent is starting; try again shortly");
    return this.api;
  }

  private subscribe(call: grpc.ServerWritableStream<ExecutorServiceSubscribeRequest, ExecutorServiceSubscribeResponse>): void {
    const link = new StreamLink(call);
    this.links.add(link);
    const gone = (): void => {
      if (!this.links.delete(link)) return;
      link.markEnded();
      this.api?.disconnected(link);
    };
    call.on("cancelled", gone);
    call.on("close", gone);
    let api: ExecutorApi;
    try {
      api = this.requireApi();
    } catch (err) {
      this.links.delete(link);
      link.fail(err);
      return;
    }
    api.subscribe(call.request, link).catch((err: unknown) => {
      this.log.warn({ err, executorId: call.request.executorId?.value }, `Refused executor subscription: ${(err as Error).message}`);
      this.links.delete(link);
      link.fail(err);
    });
  }

  /**
   * Why a call may not act for the executor it names: no token (UNAUTHENTICATED), or the
   * token of another executor (PERMISSION_DENIED); undefined when it may.
   */
  private tokenProblem(call: Parameters<typeof callIdentity>[0]): DcosError | undefined {
    const tokens = this.options.tokens;
    if (!tokens) return undefined;
    const { frameworkId, executorId, token } = callIdentity(call);
    let problem: DcosError | undefined;
    if (!token) problem = new DcosError(Code.UNAUTHENTICATED, `A call for executor '${executorId}' must carry its token (authorization: Bearer $DCOS_EXECUTOR_TOKEN)`);
    else if (!tokens.verify(frameworkId, executorId, token)) {
      problem = new DcosError(Code.PERMISSION_DENIED, `The token is not the one of executor '${executorId}' of framework '${frameworkId}': an executor may act only for itself`);
    }
    if (problem) {
      this.refused?.inc();
      this.log.warn({ frameworkId, executorId, peer: (call as { getPeer?: () => string }).getPeer?.() }, `Refused an executor call: ${problem.message}`);
    }
    return problem;
  }

  private unary<R>(call: Parameters<typeof callIdentity>[0], cb: grpc.sendUnaryData<unknown>, fn: (api: ExecutorApi) => Promise<void>, response: () => R): void {
    const problem = this.tokenProblem(call);
    if (problem) return cb(toStatus(problem));
    let p: Promise<void>;
    try {
      p = fn(this.requireApi());
    } catch (err) {
      cb(toStatus(err));
      return;
    }
    p.then(
      () => cb(null, response()),
      (err: unknown) => cb(toStatus(err)),
    );
  }
}
