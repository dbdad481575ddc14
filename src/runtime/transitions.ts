import { Code, DcosError } from "./error.js";

/**
 * A state machine's legal moves as a checker: throws INTERNAL on a transition the table
 * does not have (a bug, never bad input).
 */
export function transitionChecker<S extends string>(allowed: Record<S, readonly S[]>, what: string): (from: S, to: S) => void {
  return (from, to) => {
    if (!allowed[from].includes(to)) throw new DcosError(Code.INTERNAL, `Illegal ${what} transition ${from} -> ${to}`);
  };
}
