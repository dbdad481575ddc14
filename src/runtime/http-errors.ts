/**
 * HTTP answers for our error type, shared by every HTTP surface (operator endpoints, the
 * web UI's routes, the frameworks' REST APIs): `{error, message}` with the status that
 * matches the error's code, and the one query-parameter rule.
 */
import type { FastifyReply } from "fastify";
import { asDcosError, Code, DcosError } from "./error.js";

/**
 * One query parameter's value; INVALID_ARGUMENT (400) when it is given more than once
 * (`?path=a&path=b`), which fastify parses into a list.
 */
export function queryParam(query: unknown, name: string): string | undefined {
  const value = (query as Record<string, unknown> | undefined)?.[name];
  if (value === undefined || typeof value === "string") return value;
  throw new DcosError(Code.INVALID_ARGUMENT, `The query parameter '${name}' is given ${Array.isArray(value) ? value.length : "several"} times; give it once`);
}

const HTTP_STATUS: Partial<Record<Code, number>> = {
  [Code.INVALID_ARGUMENT]: 400,
  [Code.OUT_OF_RANGE]: 400,
  [Code.FAILED_PRECONDITION]: 409,
  [Code.ALREADY_EXISTS]: 409,
  [Code.NOT_FOUND]: 404,
  [Code.PERMISSION_DENIED]: 403,
  [Code.UNAUTHENTICATED]: 401,
  [Code.RESOURCE_EXHAUSTED]: 429,
  [Code.UNIMPLEMENTED]: 501,
  [Code.UNAVAILABLE]: 503,
  [Code.DEADLINE_EXCEEDED]: 504,
};

/** Sends `{error, message}` with the HTTP status for the error's code. */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = asDcosError(err);
  const status = HTTP_STATUS[e.code] ?? 500;
  return reply.code(status).type("application/json").send({ error: Code[e.code], message: e.message });
}

