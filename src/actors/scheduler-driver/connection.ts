import * as grpc from "@grpc/grpc-js";
import { create, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { SchedulerService, type Event, type SubscribeRequest, type SubscribeResponse } from "../../gen/dcos/v1/scheduler_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { clientConstructor, statusError } from "../../runtime/grpc/service.js";
import { credentialChannelOptions, type ClientCredential } from "../../security/auth/client-credential.js";

/** The unary calls of SchedulerService, by their local names (accept, decline, …). */
export type UnaryCall = Exclude<keyof typeof SchedulerService.method, "subscribe">;

/** The fields of a call's request (framework_id and stream_id are filled in by the driver). */
export type CallInit<K extends UnaryCall> = MessageInitShape<(typeof SchedulerService.method)[K]["input"]>;

/** A call's response. */
export type CallResult<K extends UnaryCall> = MessageShape<(typeof SchedulerService.method)[K]["output"]>;

export interface StreamHandlers {
  event(event: Event): void;
  /** Exactly once per stream: it ended (error undefined) or failed. */
  closed(error: DcosError | undefined): void;
}

type UnaryFn = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: unknown) => void,
) => grpc.ClientUnaryCall;

const Client = clientConstructor(SchedulerService);

/**
 * One gRPC channel to one master: the event stream and the unary calls. The I/O edge of
 * the driver: it knows nothing of states; the driver actor re-enters with what happens.
 * A fresh connection per attempt, so grpc-js's own channel backoff never delays ours.
 * Its own, too: without a local subchannel pool grpc-js shares one HTTP/2 connection among
 * every channel of the process to the same address, so 100 frameworks in one process (the
 * scale harness; a scheduler hosting several frameworks) ran on one session, and when that
 * session failed every framework lost its stream at once and resubscribed.
 */
export class SchedulerConnection {
  private readonly client: grpc.Client;
  private stream: grpc.ClientReadableStream<SubscribeResponse> | undefined;
  private closedByUs = false;

  constructor(
    readonly address: string,
    private readonly callTimeoutMs: number,
    credential?: ClientCredential,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.client = new Client(address, credentials, {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      ...credentialChannelOptions(credential),
    });
  }

  subscribe(request: SubscribeRequest, handlers: StreamHandlers): void {
    if (this.stream) throw new DcosError(Code.FAILED_PRECONDITION, `Already subscribed on the connection to ${this.address}`);
    const subscribeFn = (this.client as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<SubscribeResponse>>)[
      "subscribe"
    ]!;
    const stream = subscribeFn.call(this.client, request);
    this.stream = stream;
    let done = false;
    const finish = (error: DcosError | undefined): void => {
      if (done) return;
      done = true;
      handlers.closed(error);
    };
    stream.on("data", (response: SubscribeResponse) => {
      if (!done && response.event) handlers.event(response.event);
    });
    stream.on("error", (err: unknown) => finish(statusError(err)));
    stream.on("end", () => finish(undefined));
  }

  call<K extends UnaryCall>(method: K, init: CallInit<K>): Promise<CallResult<K>> {
    if (this.closedByUs) {
      return Promise.reject(new DcosError(Code.UNAVAILABLE, `The connection to ${this.address} is closed`));
    }
    const request = create(SchedulerService.method[method].input as never, init as never);
    const fn = (this.client as unknown as Record<string, UnaryFn>)[method]!;
    return new Promise((resolve, reject) => {
      fn.call(this.client, request, new grpc.Metadata(), { deadline: Date.now() + this.callTimeoutMs }, (err, response) => {
        if (err) reject(statusError(err));
        else resolve(response as CallResult<K>);
      });
    });
  }

  /** Cancels the stream (its closed() still fires, with CANCELLED) and closes the channel. */
  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.stream?.cancel();
    this.client.close();
  }
}
