import { Code, DcosError } from "./error.js";

/** What a transition checker checks: `check(from, to, subject?)` throws on an illegal move. */
export type TransitionCheck<S extends string> = (from: S, to: S, subject?: string) => void;

/**
 * A state machine's legal moves as a checker, the one way every state table in the code is
 * enforced: a move the table does not list throws `DcosError(INTERNAL)` ("Illegal <what>
 * transition A -> B for <subject>"), a bug, never bad input. `allowed` lists, for each
 * state, the states it may move to.
 */
export function transitionChecker<S extends string>(allowed: Record<S, readonly S[]>, what: string): TransitionCheck<S> {
  return (from, to, subject) => {
    if (!allowed[from].includes(to)) throw new DcosError(Code.INTERNAL, `Illegal ${what} transition ${from} -> ${to}${subject ? ` for ${subject}` : ""}`);
  };
}
