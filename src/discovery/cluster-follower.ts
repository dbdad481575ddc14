/**
 * Follows the leading master's cluster events over the public Operator API
 * (`OperatorService.Subscribe`): SUBSCRIBED with a snapshot, then every event. The
 * follower finds the leader itself — a standby answers UNAVAILABLE naming it (the
 * `dcos-leader` trailer) — and subscribes again, from a fresh snapshot, whenever the
 * stream ends, fails, goes quiet for three heartbeat intervals, or announces another
 * leader. It is how discovery (DNS) keeps up with the cluster through master failovers.
 */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { OperatorService, OperatorServiceSubscribeRequestSchema, type ClusterEvent, type OperatorServiceSubscribeResponse } from "../gen/dcos/v1/operator_pb.js";
import { statusError } from "../runtime/grpc/service.js";
import { Backoff } from "../runtime/backoff.js";
import { Random } from "../runtime/random.js";
import { MasterList, parseMasterAddress } from "../actors/scheduler-driver/masters.js";
import { clientConstructor } from "../runtime/grpc/service.js";
import type { Logger } from "../runtime/log.js";
import { credentialChannelOptions, type ClientCredential } from "../security/auth/client-credential.js";

const Client = clientConstructor(OperatorService);

export interface ClusterFollowerOptions {
  /** Masters as host:port (any one will do). */
  masters: readonly string[];
  onEvent: (event: ClusterEvent) => void;
  logger: Logger;
  /** Pause before trying the next master (doubles up to 2 s). Default 100 ms. */
  retryMs?: number;
  /** The reconnect jitter's source (default: seeded from the OS). */
  random?: Random;
  /** The principal to call as (Operator SUBSCRIBE shows it only the frameworks and tasks whose users its view_frameworks/view_tasks ACLs allow). */
  credential?: ClientCredential;
  /** TLS to the masters (the cluster CA, a principal's certificate); default plaintext. */
  channelCredentials?: grpc.ChannelCredentials;
}

export class ClusterFollower {
  private readonly masters: MasterList;
  private client: grpc.Client | undefined;
  private call: grpc.ClientReadableStream<OperatorServiceSubscribeResponse> | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private quietLimitMs = 45_000;
  private readonly backoff: Backoff;
  private stopped = false;
  /** The master the stream is on, once SUBSCRIBED arrived there. */
  connectedTo: string | undefined;
  /** Subscriptions made so far (a new one after each failover). */
  subscriptions = 0;
  /** Why the last stream ended or was refused. */
  lastError: string | undefined;

  constructor(private readonly o: ClusterFollowerOptions) {
    this.masters = new MasterList(o.masters);
    const initialMs = o.retryMs ?? 100;
    this.backoff = new Backoff({ initialMs, maxMs: Math.max(initialMs, 2000) }, o.random ?? Random.fromOs());
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.drop();
  }

  private connect(): void {
    if (this.stopped) return;
    const address = this.masters.current();
    this.client = new Client(address, this.o.channelCredentials ?? grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 256 * 1024 * 1024,
      ...credentialChannelOptions(this.o.credential),
    });
    const subscribe = (this.client as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<OperatorServiceSubscribeResponse>>)["subscribe"]!;
    const call = subscribe.call(this.client, create(OperatorServiceSubscribeRequestSchema, {}));
    this.call = call;
    let finished = false;
    const finish = (why: string, leaderHint?: string): void => {
      if (finished || this.call !== call) return;
      finished = true;
      this.lastError = why;
      this.drop();
      if (this.stopped) return;
      const followed = this.masters.failed(leaderHint);
      const wait = this.backoff.next();
      const delay = followed && this.masters.redirects < 5 ? 0 : wait;
      this.o.logger.info(`Cluster event stream from ${address} ended (${why}); subscribing to ${this.masters.current()} in ${delay} ms`);
      this.retry = setTimeout(() => this.connect(), delay);
    };
    call.on("data", (r: OperatorServiceSubscribeResponse) => {
      const event = r.event;
      if (!event || finished) return;
      this.arm(() => finish(`no event or heartbeat for ${this.quietLimitMs} ms`));
      if (event.kind.case === "subscribed") {
        this.quietLimitMs = Math.max(1000, event.kind.value.heartbeatIntervalSeconds * 3000);
        this.arm(() => finish(`no event or heartbeat for ${this.quietLimitMs} ms`));
        this.connectedTo = address;
        this.subscriptions++;
        this.masters.succeeded();
        this.backoff.reset();
        this.o.logger.info(`Following cluster events of the leading master ${address}`);
      }
      this.o.onEvent(event);
      if (event.kind.case === "leaderChanged") {
        const pid = event.kind.value.leader?.pid;
        const leader = pid ? safeAddress(pid) : undefined;
        if (leader !== address) finish(leader ? `the leader is now ${leader}` : "no master leads", leader);
      }
    });
    call.on("error", (err: unknown) => {
      const e = statusError(err);
      finish(e.message, e.details["leader"]);
    });
    call.on("end", () => finish("the master ended it"));
  }

  private arm(fire: () => void): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(fire, this.quietLimitMs);
  }

  private drop(): void {
    clearTimeout(this.watchdog);
    this.connectedTo = undefined;
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.client?.close();
    this.client = undefined;
  }
}

function safeAddress(pid: string): string | undefined {
  try {
    return parseMasterAddress(pid);
  } catch {
    return undefined;
  }
}
