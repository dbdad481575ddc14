/**
 * Who is calling: the principal a public call was authenticated as (a client certificate,
 * a secret from the credentials file, or an executor token), or nobody. ACLs are checked
 * against this principal only, never against a principal named inside a request.
 */

/** How a caller proved who it is. */
export type AuthenticatedBy = "certificate" | "secret" | "executor-token";

export interface AuthenticatedCaller {
  readonly authenticated: true;
  readonly principal: string;
  readonly by: AuthenticatedBy;
}

export interface AnonymousCaller {
  readonly authenticated: false;
  readonly principal?: undefined;
}

export type Caller = AuthenticatedCaller | AnonymousCaller;

export const ANONYMOUS: AnonymousCaller = Object.freeze({ authenticated: false });

export function authenticatedAs(principal: string, by: AuthenticatedBy): AuthenticatedCaller {
  return { authenticated: true, principal, by };
}

/** "principal 'ops'" or "an unauthenticated caller", for messages. */
export function describeCaller(caller: Caller): string {
  return caller.authenticated ? `principal '${caller.principal}'` : "an unauthenticated caller";
}
