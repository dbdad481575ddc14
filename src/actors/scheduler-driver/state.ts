import { Code, type DcosError } from "../../runtime/error.js";
import { transitionChecker } from "../../runtime/transitions.js";

/** Where the driver is in its life. */
export enum DriverState {
  /** Created; start() not called yet. */
  IDLE = "IDLE",
  /** A Subscribe stream is open to a master; waiting for SUBSCRIBED. */
  CONNECTING = "CONNECTING",
  /** SUBSCRIBED received: events flow and calls may be made. */
  SUBSCRIBED = "SUBSCRIBED",
  /** The stream broke or failed; a reconnect is scheduled. */
  WAITING = "WAITING",
  /** Stopped by the scheduler, by teardown, or by a master that refused it. Final. */
  STOPPED = "STOPPED",
}

const ALLOWED: Record<DriverState, readonly DriverState[]> = {
  [DriverState.IDLE]: [DriverState.CONNECTING, DriverState.STOPPED],
  [DriverState.CONNECTING]: [DriverState.SUBSCRIBED, DriverState.WAITING, DriverState.STOPPED],
  [DriverState.SUBSCRIBED]: [DriverState.WAITING, DriverState.STOPPED],
  [DriverState.WAITING]: [DriverState.CONNECTING, DriverState.STOPPED],
  [DriverState.STOPPED]: [],
};

/** Throws INTERNAL on a transition the state machine does not have (a driver bug). */
export const checkTransition = transitionChecker(ALLOWED, "scheduler driver");

/**
 * Subscribe failures that another attempt cannot fix: the master understood the request
 * and refused it (e.g. FAILED_PRECONDITION "framework was removed"). Everything else
 * (UNAVAILABLE, DEADLINE_EXCEEDED, anything with a leader hint, …) is retried, so a
 * standby or a recovering master must answer UNAVAILABLE.
 */
const FATAL_SUBSCRIBE_CODES = new Set<Code>([
  Code.INVALID_ARGUMENT,
  Code.FAILED_PRECONDITION,
  Code.NOT_FOUND,
  Code.ALREADY_EXISTS,
  Code.PERMISSION_DENIED,
  Code.UNAUTHENTICATED,
  Code.UNIMPLEMENTED,
  Code.OUT_OF_RANGE,
]);

export function isFatalSubscribeError(error: DcosError): boolean {
  return FATAL_SUBSCRIBE_CODES.has(error.code) && error.details["leader"] === undefined;
}
