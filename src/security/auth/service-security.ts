/**
 * What a node's public services need to decide who may do what: the authenticator, the
 * authorizer, and the per-principal limits. `openSecurity()` is the dev/test default: no
 * credentials, permissive ACLs, every caller anonymous.
 */
import type { Metrics } from "../../metrics/metrics.js";
import { Code, DcosError } from "../../runtime/error.js";
import { Acls } from "./acls.js";
import { Authenticator } from "./authenticator.js";
import { Authorizer } from "./authorizer.js";
import { describeCaller, type Caller } from "./caller.js";

export interface PrincipalLimits {
  /** Frameworks one principal may have registered at once. */
  maxFrameworksPerPrincipal: number;
}

export const DEFAULT_PRINCIPAL_LIMITS: PrincipalLimits = { maxFrameworksPerPrincipal: 100 };

export interface ServiceSecurity {
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  /** Largest request on public gRPC services (default 4 MiB). */
  readonly maxRequestBytes?: number;
  readonly limits: PrincipalLimits;
}

export function openSecurity(metrics?: Metrics, acls: Acls = Acls.permissive()): ServiceSecurity {
  return { authenticator: Authenticator.open(), authorizer: new Authorizer(acls, metrics), limits: DEFAULT_PRINCIPAL_LIMITS };
}

/** Whether `caller` may act for something owned by `principal` (a framework, a log, a reservation). */
export function mayActFor(security: ServiceSecurity, caller: Caller, principal: string): boolean {
  if (caller.authenticated) return caller.principal === principal;
  return !security.authenticator.isProtected(principal);
}

/**
 * The principal a request acts as: the authenticated one (a field naming another is
 * refused; an empty field is filled), or for an anonymous caller the one it names, unless
 * only an authenticated caller may use that principal.
 */
export function effectivePrincipal(security: ServiceSecurity, caller: Caller, claimed: string, field: string): string {
  if (caller.authenticated) {
    if (claimed !== "" && claimed !== caller.principal) {
      throw security.authorizer.denied("principal", `${field} '${claimed}' is not the authenticated principal '${caller.principal}'`);
    }
    return caller.principal;
  }
  if (claimed !== "" && security.authenticator.isProtected(claimed)) {
    throw new DcosError(Code.UNAUTHENTICATED, `${field} '${claimed}' has credentials: authenticate as it to use it`);
  }
  return claimed;
}

/** PERMISSION_DENIED for acting on another principal's thing. */
export function notOwner(security: ServiceSecurity, caller: Caller, what: string, owner: string): DcosError {
  return security.authorizer.denied("owner", `${what} belongs to principal '${owner}'; ${describeCaller(caller)} may not use it`);
}
