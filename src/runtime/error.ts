/**
 * The one error type of dcos-node. Codes are the gRPC status codes, so an error crosses a
 * gRPC boundary unchanged; the message starts with what went wrong.
 */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

export class DcosError extends Error {
  readonly code: Code;
  /** Extra machine-readable detail, e.g. the leader's pid for a "not leader" error. */
  readonly details: Readonly<Record<string, string>>;

  constructor(code: Code, message: string, options: { cause?: unknown; details?: Record<string, string> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = `DcosError(${Code[code]})`;
    this.code = code;
    this.details = options.details ?? {};
  }

  /**
   * The same error without a stack trace: for refusals made in bulk on a hot path (a loaded
   * leader refusing launches), where capturing the stack cost more than the check itself
   * (60 µs each at 20,000 refusals in a fill); the caller only needs code, message, details.
   */
  static withoutStack(code: Code, message: string, options: { details?: Record<string, string> } = {}): DcosError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new DcosError(code, message, options);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  static is(e: unknown, code?: Code): e is DcosError {
    return e instanceof DcosError && (code === undefined || e.code === code);
  }
}

/**
 * The detail (metadata `dcos-retry-after-ms` on a gRPC status) a server that refuses work
 * while overloaded (RESOURCE_EXHAUSTED) tells its caller to wait, in ms, before trying again.
 */
export const RETRY_AFTER_DETAIL = "retry-after-ms";

/** How long a refusal asks its caller to wait (its retry-after-ms detail), or undefined. */
export function retryAfterMs(err: unknown): number | undefined {
  if (!(err instanceof DcosError)) return undefined;
  const raw = err.details[RETRY_AFTER_DETAIL];
  const v = Number(raw);
  return raw !== undefined && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Wraps anything thrown into a DcosError, keeping the original as cause. */
export function asDcosError(e: unknown, code: Code = Code.INTERNAL, context?: string): DcosError {
  if (e instanceof DcosError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new DcosError(code, context ? `${context}: ${msg}` : msg, { cause: e });
}
