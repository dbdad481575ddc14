import type {
  ExecutorEvent,
  ExecutorServiceMessageRequest,
  ExecutorServiceSubscribeRequest,
  ExecutorServiceUpdateRequest,
} from "../../gen/dcos/v1/executor_pb.js";

/**
 * The agent's end of one executor's event stream (a gRPC Subscribe call in production, a
 * recorder in tests). send() never throws; after close() the stream is ended.
 */
export interface ExecutorLink {
  send(event: ExecutorEvent): void;
  close(): void;
}

/** What the agent offers its executors; the gRPC ExecutorService calls these. */
export interface ExecutorApi {
  /** Registers the executor's stream; NOT_FOUND for an executor the agent did not start. */
  subscribe(request: ExecutorServiceSubscribeRequest, link: ExecutorLink): Promise<void>;
  /** Resolves once the update is checkpointed. */
  update(request: ExecutorServiceUpdateRequest): Promise<void>;
  message(request: ExecutorServiceMessageRequest): Promise<void>;
  /** The stream of this link ended (the executor may reconnect). */
  disconnected(link: ExecutorLink): void;
}
