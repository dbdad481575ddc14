/**
 * Checks an authenticated caller against the ACLs and turns a refusal into a precise
 * PERMISSION_DENIED (HTTP 403) that says who was refused what, counted in the metrics as
 * `authorization/denied` and `authorization/denied/<action>`.
 */
import type { Metrics } from "../../metrics/metrics.js";
import { Code, DcosError } from "../../runtime/error.js";
import { Acls, EVERY, type AclAction, type AclObject } from "./acls.js";
import { describeCaller, type Caller } from "./caller.js";

export class Authorizer {
  constructor(
    readonly acls: Acls = Acls.permissive(),
    private readonly metrics?: Metrics,
  ) {}

  allows(caller: Caller, action: AclAction, object: AclObject): boolean {
    return this.acls.allows(action, caller.principal, object);
  }

  /** Counts one refusal of `action`. */
  count(action: string): void {
    this.metrics?.counter("authorization/denied").inc();
    this.metrics?.counter(`authorization/denied/${action}`).inc();
  }

  /** Counts a refusal decided elsewhere (e.g. a principal mismatch) and returns its error. */
  denied(action: string, message: string): DcosError {
    this.count(action);
    return new DcosError(Code.PERMISSION_DENIED, message, { details: { denied: action } });
  }

  /** Throws PERMISSION_DENIED unless the ACLs allow it. */
  check(caller: Caller, action: AclAction, object: AclObject, what?: string): void {
    if (this.allows(caller, action, object)) return;
    const target = object === EVERY ? "every object" : `'${object}'`;
    throw this.denied(action, `Not authorized: ${describeCaller(caller)} may not ${what ?? `${action} on ${target}`} (ACL ${action})`);
  }
}
