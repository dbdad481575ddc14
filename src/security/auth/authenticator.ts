/**
 * Who a public call comes from. Sources, in order:
 * - a client certificate verified by the node's TLS (mTLS): its identity, through a
 *   PeerIdentitySource (the cluster PKI supplies one; plain-text servers have none);
 * - `Authorization: Basic base64(principal:secret)` or `Bearer <secret>` checked against
 *   the credentials file;
 * - nothing: anonymous, which is refused (UNAUTHENTICATED / 401) when authentication is
 *   required, and otherwise may not claim a principal that has credentials.
 * A header that is present but wrong is always refused, never taken as anonymous.
 */
import type { AuthContext } from "@grpc/grpc-js/build/src/auth-context.js";
import { Code, DcosError } from "../../runtime/error.js";
import { ANONYMOUS, authenticatedAs, type Caller } from "./caller.js";
import type { CredentialStore } from "./credentials.js";

/** The verified client-certificate principal of a gRPC call, if its connection has one. */
export interface PeerIdentitySource {
  principalOf(authContext: AuthContext | undefined): string | undefined;
}

export interface AuthenticatorOptions {
  credentials?: CredentialStore;
  peerIdentity?: PeerIdentitySource;
  /** Refuse anonymous callers (UNAUTHENTICATED / 401). */
  required: boolean;
}

export function unauthenticated(message: string): DcosError {
  return new DcosError(Code.UNAUTHENTICATED, message);
}

export class Authenticator {
  constructor(readonly options: AuthenticatorOptions) {}

  /** No credentials, no certificates, nothing required: every caller is anonymous and allowed. */
  static open(): Authenticator {
    return new Authenticator({ required: false });
  }

  get required(): boolean {
    return this.options.required;
  }

  /** Whether `principal` is one only an authenticated caller may act as. */
  isProtected(principal: string): boolean {
    return this.options.required || (this.options.credentials?.has(principal) ?? false);
  }

  /** The caller of a request with this Authorization header (and TLS peer), or UNAUTHENTICATED. */
  authenticate(authorization: string | undefined, authContext?: AuthContext): Caller {
    const fromCertificate = this.options.peerIdentity?.principalOf(authContext);
    if (authorization !== undefined && authorization !== "") {
      const caller = this.fromHeader(authorization);
      if (fromCertificate !== undefined && fromCertificate !== caller.principal) {
        throw unauthenticated(`The client certificate names '${fromCertificate}' but the credentials name '${caller.principal}'`);
      }
      return caller;
    }
    if (fromCertificate !== undefined) return authenticatedAs(fromCertificate, "certificate");
    if (this.options.required) throw unauthenticated("Authentication required: present a client certificate or an Authorization header (Basic principal:secret or Bearer secret)");
    return ANONYMOUS;
  }

  private fromHeader(header: string): Caller {
    const store = this.options.credentials;
    const space = header.indexOf(" ");
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const value = space < 0 ? "" : header.slice(space + 1).trim();
    if (!store) throw unauthenticated("This node has no --credentials; it cannot check an Authorization header");
    if (scheme === "basic") {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon <= 0) throw unauthenticated("Malformed Basic credentials: expected base64(principal:secret)");
      const principal = decoded.slice(0, colon);
      if (!store.verify(principal, decoded.slice(colon + 1))) throw unauthenticated(`Invalid credentials for principal '${principal.slice(0, 64)}'`);
      return authenticatedAs(principal, "secret");
    }
    if (scheme === "bearer") {
      const principal = store.principalOfToken(value);
      if (principal === undefined) throw unauthenticated("Invalid bearer token");
      return authenticatedAs(principal, "secret");
    }
    throw unauthenticated(`Unsupported authorization scheme '${scheme.slice(0, 20)}' (use Basic or Bearer)`);
  }
}
