import * as grpc from "@grpc/grpc-js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  EventSchema,
  SchedulerService,
  SubscribeResponseSchema,
  type SubscribeRequest,
  type SubscribeResponse,
} from "../../src/gen/dcos/v1/scheduler_pb.js";
import type { DcosError } from "../../src/runtime/error.js";
import { serviceDefinition, toStatus } from "../../src/runtime/grpc/service.js";
import { waitFor } from "./wait.js";

export type EventInit = MessageInitShape<typeof EventSchema>;

/** One open Subscribe stream, as the test sees it: push events, end it, fail it. */
export class FakeStream {
  cancelled = false;
  closed = false;

  constructor(
    readonly request: SubscribeRequest,
    private readonly call: grpc.ServerWritableStream<SubscribeRequest, SubscribeResponse>,
  ) {
    call.on("cancelled", () => {
      this.cancelled = true;
      this.closed = true;
    });
  }

  send(event: EventInit): void {
    if (this.closed) throw new Error("FakeStream.send on a closed stream");
    this.call.write(create(SubscribeResponseSchema, { event: create(EventSchema, event) }));
  }

  subscribed(frameworkId: string, streamId: string, heartbeatIntervalSeconds = 15): void {
    this.send({ kind: { case: "subscribed", value: { frameworkId: { value: frameworkId }, streamId, heartbeatIntervalSeconds } } });
  }

  heartbeat(): void {
    this.send({ kind: { case: "heartbeat", value: {} } });
  }

  /** Ends the stream with OK (the master closed it). */
  end(): void {
    this.closed = true;
    this.call.end();
  }

  /** Ends the stream with an error status (details become dcos-* trailers). */
  fail(error: DcosError): void {
    this.closed = true;
    this.call.emit("error", toStatus(error));
  }
}

export interface RecordedCall {
  method: string;
  request: Record<string, unknown> & { streamId?: string; frameworkId?: { value: string } };
}

type Subscriber = (stream: FakeStream) => void;

/**
 * A SchedulerService on loopback whose behaviour the test scripts: by default every
 * Subscribe gets SUBSCRIBED (framework id kept when the scheduler sends one, else
 * "fw-1"; stream ids s-1, s-2, …) and every call succeeds; failNext(method, error) makes
 * the next call of that method fail. Records subscriptions and calls.
 */
export class FakeSchedulerServer {
  readonly streams: FakeStream[] = [];
  readonly calls: RecordedCall[] = [];
  heartbeatIntervalSeconds = 15;
  /** Replaces the default SUBSCRIBED answer (e.g. to refuse or to stay silent). */
  onSubscribe: Subscriber = (stream) => {
    const id = stream.request.frameworkInfo?.id?.value || "fw-1";
    stream.subscribed(id, `s-${this.streams.length}`, this.heartbeatIntervalSeconds);
  };
  private readonly failures = new Map<string, DcosError[]>();
  private readonly server = new grpc.Server();
  private port = 0;

  static async start(): Promise<FakeSchedulerServer> {
    const fake = new FakeSchedulerServer();
    await fake.listen(0);
    return fake;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Serves on port (0: any); resolves with the port. */
  listen(port: number): Promise<number> {
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const method of SchedulerService.methods) {
      if (method.localName === "subscribe") {
        handlers[method.localName] = (call: grpc.ServerWritableStream<SubscribeRequest, SubscribeResponse>) => {
          const stream = new FakeStream(call.request, call);
          this.streams.push(stream);
          this.onSubscribe(stream);
        };
      } else {
        handlers[method.localName] = (call: grpc.ServerUnaryCall<RecordedCall["request"], unknown>, callback: grpc.sendUnaryData<unknown>) => {
          this.calls.push({ method: method.localName, request: call.request });
          const failure = this.failures.get(method.localName)?.shift();
          if (failure) callback(toStatus(failure));
          else callback(null, create(method.output));
        };
      }
    }
    this.server.addService(serviceDefinition(SchedulerService), handlers);
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
        if (err) return reject(err);
        this.port = bound;
        resolve(bound);
      }),
    );
  }

  failNext(method: string, error: DcosError): void {
    const list = this.failures.get(method) ?? [];
    list.push(error);
    this.failures.set(method, list);
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** The latest stream, once there are at least n. */
  async stream(n: number): Promise<FakeStream> {
    await waitFor(() => this.streams.length >= n, `${n} Subscribe stream(s) on the fake master`);
    return this.streams[n - 1]!;
  }

  async waitForCalls(method: string, n: number): Promise<RecordedCall[]> {
    return waitFor(() => (this.callsOf(method).length >= n ? this.callsOf(method) : undefined), `${n} ${method} call(s) on the fake master`);
  }

  /** Stops at once, breaking open streams. */
  stop(): void {
    this.server.forceShutdown();
  }
}
