/**
 * What one caller may see of the cluster, as Mesos filters its state and events by the
 * users things run as: a framework is visible with `view_frameworks` on its user, a task
 * with `view_tasks` on the user it runs as (and its framework visible), an executor with
 * `view_executors` on its user (and its framework visible). `all` is true when the ACLs
 * allow every user for all three, so readers can serve their unfiltered (cached) views.
 */
import { EVERY, type AclAction } from "./acls.js";
import type { Authorizer } from "./authorizer.js";
import type { Caller } from "./caller.js";

export interface ViewPermissions {
  /** Every framework, task and executor is visible. */
  readonly all: boolean;
  framework(user: string): boolean;
  /** A task running as `user` (its framework visible is checked separately). */
  task(user: string): boolean;
  executor(user: string): boolean;
}

export const VIEW_ALL: ViewPermissions = { all: true, framework: () => true, task: () => true, executor: () => true };

const VIEW_ACTIONS = ["view_frameworks", "view_tasks", "view_executors"] as const satisfies readonly AclAction[];

export function viewPermissions(authorizer: Authorizer | undefined, caller: Caller): ViewPermissions {
  if (!authorizer) return VIEW_ALL;
  if (VIEW_ACTIONS.every((a) => authorizer.allows(caller, a, EVERY))) return VIEW_ALL;
  const memo = (action: AclAction) => {
    const decided = new Map<string, boolean>();
    return (user: string): boolean => {
      let d = decided.get(user);
      if (d === undefined) decided.set(user, (d = authorizer.allows(caller, action, user)));
      return d;
    };
  };
  return { all: false, framework: memo("view_frameworks"), task: memo("view_tasks"), executor: memo("view_executors") };
}
