/**
 * The door of a public gRPC service: a request that was too large or undecodable is
 * answered with its precise status (RESOURCE_EXHAUSTED / INVALID_ARGUMENT), then the
 * caller is authenticated (UNAUTHENTICATED otherwise); a request gate's refusal (the server
 * busy) is answered only then, and the caller is handed to the handler through
 * `callerOf(call)`. Every method of the service goes through it; a handler never sees an
 * unauthenticated call when authentication is required.
 */
import * as grpc from "@grpc/grpc-js";
import type { DescService, Message } from "@bufbuild/protobuf";
import type { Metrics } from "../../metrics/metrics.js";
import { asDcosError, Code, DcosError } from "../../runtime/error.js";
import { RequestProblem, serviceDefinition, toStatus, type RequestGate } from "../../runtime/grpc/service.js";
import type { Authenticator } from "./authenticator.js";
import { ANONYMOUS, type Caller } from "./caller.js";

/** Default largest request on public services (the node's transport takes far larger frames). */
export const DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export interface GuardOptions {
  authenticator: Authenticator;
  /** Largest request accepted (default 4 MiB). */
  maxRequestBytes?: number;
  metrics?: Metrics;
  /** Per method: a response encoder other than toBinary (ServiceDefinitionOptions.responseSerializers). */
  responseSerializers?: Record<string, (message: Message) => Buffer>;
  /** Per method: a look at the bytes before decoding that may refuse the call (ServiceDefinitionOptions.requestGates). */
  requestGates?: Record<string, RequestGate>;
  /** Per method: the request's decoder (ServiceDefinitionOptions.requestDecoders). */
  requestDecoders?: Record<string, (bytes: Uint8Array) => Message>;
}

const callers = new WeakMap<object, Caller>();

/** The authenticated caller of a call that went through a guard (anonymous otherwise). */
export function callerOf(call: object): Caller {
  return callers.get(call) ?? ANONYMOUS;
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

function fail(call: AnyCall, callback: grpc.sendUnaryData<unknown> | undefined, err: DcosError): void {
  if (callback) callback(toStatus(err));
  else call.emit("error", toStatus(err));
}

/**
 * Adds a public service: its definition decodes leniently within the size limit, and each
 * handler (unary or server streaming) runs only after the request passed and the caller
 * authenticated.
 */
export function addGuardedService(server: grpc.Server, service: DescService, handlers: grpc.UntypedServiceImplementation, o: GuardOptions): void {
  const definition = serviceDefinition(service, {
    maxRequestBytes: o.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    ...(o.responseSerializers ? { responseSerializers: o.responseSerializers } : {}),
    ...(o.requestGates ? { requestGates: o.requestGates } : {}),
    ...(o.requestDecoders ? { requestDecoders: o.requestDecoders } : {}),
  });
  const unauthenticated = o.metrics?.counter("authentication/failed");
  const rejected = o.metrics?.counter("grpc/invalid_requests");
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [given, handler] of Object.entries(handlers)) {
    // Handlers may be keyed by the method's local name (append) or its proto name (Append).
    const name = given in definition ? given : Object.keys(definition).find((k) => definition[k]!.originalName === given);
    const method = name === undefined ? undefined : definition[name];
    if (!method || name === undefined) throw new DcosError(Code.INTERNAL, `${service.typeName} has no method ${given}`);
    if (method.requestStream) throw new DcosError(Code.INTERNAL, `${service.typeName}.${name}: client streams are not guarded`);
    guarded[name] = ((call: AnyCall, callback?: grpc.sendUnaryData<unknown>) => {
      const refusal = call.request instanceof RequestProblem ? call.request.refusal : undefined;
      if (call.request instanceof RequestProblem && !refusal) {
        rejected?.inc();
        return fail(call, callback, new DcosError(call.request.code, call.request.message));
      }
      try {
        const header = call.metadata.get("authorization")[0];
        callers.set(call, o.authenticator.authenticate(header === undefined ? undefined : String(header), call.getAuthContext?.()));
      } catch (err) {
        unauthenticated?.inc();
        return fail(call, callback, asDcosError(err));
      }
      // A gate's refusal (the server busy; the request was not even decoded) is answered as it
      // was made once the caller is known: only an authenticated caller learns that the server
      // is busy, and only its refusals are counted. It is not an invalid request.
      if (refusal) {
        refusal.answered?.();
        return fail(call, callback, refusal.error);
      }
      (handler as (call: AnyCall, callback?: grpc.sendUnaryData<unknown>) => void)(call, callback);
    }) as grpc.UntypedHandleCall;
  }
  server.addService(definition, guarded);
}
