import * as grpc from "@grpc/grpc-js";
import type { DescMessage, DescMethod, DescService, Message } from "@bufbuild/protobuf";
import { asDcosError, Code, DcosError, RETRY_AFTER_DETAIL } from "../error.js";
import { protoDecoder, protoEncoder } from "../proto-codec.js";

/**
 * Bridges protoc-gen-es service descriptors (`GenService`) and @grpc/grpc-js, which wants
 * a ServiceDefinition: per method a path, the streaming kind, and (de)serializers. Messages
 * are (de)serialized by the generated codecs (proto-codec.ts over binary-writer.ts and
 * binary-reader.ts: the bytes toBinary gives and the message fromBinary gives, at a third of
 * their cost or less; a new leader decodes every framework's reconciliation call, a Raft
 * leader every Append); a method side marked raw passes Buffers through untouched, for
 * callers that encode on their own (the transport's frames).
 */

/** Which sides of a method carry pre-encoded bytes instead of messages. */
export type RawSide = "request" | "response" | "both";

export interface ServiceDefinitionOptions {
  /** Per method (by localName, e.g. "connect"): sides passed through as Buffers. */
  raw?: Record<string, RawSide>;
  /**
   * Server side of a public service: a request that is larger than this or cannot be
   * decoded becomes a RequestProblem (answered by the handler's guard with a precise
   * status) instead of a throw, which grpc-js would answer INTERNAL.
   */
  maxRequestBytes?: number;
  /**
   * Per method (by localName): how its responses are encoded instead of toBinary (a hot
   * stream may bring a faster encoder that gives the same bytes).
   */
  responseSerializers?: Record<string, (message: Message) => Buffer>;
  /**
   * Server side of a public service, per method (by localName): a look at the request's
   * bytes before they are decoded; an error it returns answers the call instead (a
   * RequestProblem carrying it), and the request is never decoded. For refusing work cheaply
   * when a server is too busy to take it (the master's admission control of launches).
   */
  requestGates?: Record<string, RequestGate>;
  /**
   * Server side, per method (by localName): the request's decoder instead of the schema's
   * reader. It must give the message fromBinary gives (or throw as it would).
   */
  requestDecoders?: Record<string, (bytes: Uint8Array) => Message>;
}

/**
 * A gate's refusal: the error to answer and what to do once it is answered (count it). The
 * caller is not yet known when a gate looks at the bytes: a guard answers the refusal, and
 * calls `answered`, only for an authenticated caller (security/auth/grpc-guard.ts).
 */
export interface GateRefusal {
  error: DcosError;
  answered?: () => void;
}

/** See ServiceDefinitionOptions.requestGates. */
export type RequestGate = (bytes: Uint8Array) => GateRefusal | undefined;

/**
 * A request a server could not take: its status and why (see ServiceDefinitionOptions.maxRequestBytes).
 * With `refusal`, a request gate refused it (the server is busy; the request was not looked at).
 */
export class RequestProblem {
  constructor(
    readonly code: Code,
    readonly message: string,
    readonly refusal?: GateRefusal,
  ) {}
}

/** The gRPC path of a method: `/package.Service/Method`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

const identity = {
  serialize: (value: Uint8Array): Buffer =>
    Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  deserialize: (bytes: Buffer): Buffer => bytes,
};

function messageCodec(
  schema: DescMessage,
  maxRequestBytes?: number,
  gate?: RequestGate,
  decoder?: (bytes: Uint8Array) => Message,
): { serialize: (m: Message) => Buffer; deserialize: (b: Buffer) => Message } {
  // Both made at the first message: a service definition names many types few of which are used.
  const encode = protoEncoder(schema);
  const decode = decoder ?? protoDecoder(schema);
  const serialize = (m: Message): Buffer => {
    const bytes = encode(m);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  if (maxRequestBytes !== undefined) {
    return {
      serialize,
      deserialize: (b) => {
        if (b.byteLength > maxRequestBytes) {
          return new RequestProblem(Code.RESOURCE_EXHAUSTED, `${schema.typeName} of ${b.byteLength} bytes is larger than this service accepts (${maxRequestBytes} bytes)`) as unknown as Message;
        }
        const refusal = gate?.(b);
        if (refusal) return new RequestProblem(refusal.error.code, refusal.error.message, refusal) as unknown as Message;
        try {
          return decode(b);
        } catch (err) {
          return new RequestProblem(Code.INVALID_ARGUMENT, `Cannot decode ${schema.typeName}: ${(err as Error).message}`) as unknown as Message;
        }
      },
    };
  }
  return {
    serialize,
    deserialize: (b) => {
      try {
        return decode(b);
      } catch (err) {
        // grpc-js turns a throwing deserializer into a failed call; say what failed.
        throw new DcosError(Code.INVALID_ARGUMENT, `Cannot decode ${schema.typeName}: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}

/** A grpc-js ServiceDefinition for a protobuf-es service, keyed by method localName. */
export function serviceDefinition(service: DescService, options: ServiceDefinitionOptions = {}): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    const raw = options.raw?.[method.localName];
    const req = raw === "request" || raw === "both" ? identity : messageCodec(method.input, options.maxRequestBytes, options.requestGates?.[method.localName], options.requestDecoders?.[method.localName]);
    const codec = raw === "response" || raw === "both" ? identity : messageCodec(method.output);
    const serialize = options.responseSerializers?.[method.localName];
    const res = serialize ? { ...codec, serialize } : codec;
    def[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: req.serialize as (v: unknown) => Buffer,
      requestDeserialize: req.deserialize,
      responseSerialize: res.serialize as (v: unknown) => Buffer,
      responseDeserialize: res.deserialize,
      originalName: method.name,
    };
  }
  return def;
}

/** A client class for the service (grpc-js generic client), constructed with (target, credentials, options). */
export function clientConstructor(service: DescService, options: ServiceDefinitionOptions = {}): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(serviceDefinition(service, options), service.typeName);
}

/** The metadata key a standby master names the leader in (DcosError details {leader}). */
export const LEADER_METADATA = "dcos-leader";

/**
 * A status from a master as a DcosError with the server's code and message; a leader hint
 * in the trailers (`dcos-leader`) becomes details.leader, a refusal's wait
 * (`dcos-retry-after-ms`) details["retry-after-ms"] (see retryAfterMs).
 */
export function statusError(err: unknown): DcosError {
  const e = fromServiceError(err);
  const metadata = (err as Partial<grpc.ServiceError> | undefined)?.metadata;
  const leader = metadata?.get(LEADER_METADATA)[0];
  const retryAfter = metadata?.get(`dcos-${RETRY_AFTER_DETAIL}`)[0];
  if (leader === undefined && retryAfter === undefined) return e;
  const details: Record<string, string> = {};
  if (leader !== undefined) details["leader"] = String(leader);
  if (retryAfter !== undefined) details[RETRY_AFTER_DETAIL] = String(retryAfter);
  return new DcosError(e.code, e.message, { cause: err, details });
}

/** Turns anything thrown by a handler into a status a gRPC client understands. */
export function toStatus(err: unknown): Partial<grpc.StatusObject> & { code: grpc.status; details: string } {
  const e = asDcosError(err, Code.INTERNAL);
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(e.details)) metadata.set(`dcos-${k.toLowerCase()}`, v);
  return { code: e.code as number as grpc.status, details: e.message, metadata };
}

/** A gRPC client error as a DcosError (same code, the server's message). */
export function fromServiceError(err: unknown, context?: string): DcosError {
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e?.code === "number" && e.code in Code) {
    const msg = e.details || e.message || "gRPC call failed";
    return new DcosError(e.code as number as Code, context ? `${context}: ${msg}` : msg, { cause: err });
  }
  return asDcosError(err, Code.UNKNOWN, context);
}
