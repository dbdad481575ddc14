/**
 * A node's security settings as loaded from its flags (`--credentials`, `--acls`,
 * `--authenticate`), and the ServiceSecurity its public services use, made with the node's
 * metrics. The dev cluster generates its own (see dev-credentials.ts).
 */
import type { Metrics } from "../../metrics/metrics.js";
import { Acls } from "./acls.js";
import { Authenticator, type PeerIdentitySource } from "./authenticator.js";
import { Authorizer } from "./authorizer.js";
import { CredentialStore, loadCredentialsFile, type Credential } from "./credentials.js";
import { DEFAULT_PRINCIPAL_LIMITS, type PrincipalLimits, type ServiceSecurity } from "./service-security.js";

export interface SecurityConfig {
  credentials?: readonly Credential[];
  acls?: Acls;
  /** Refuse unauthenticated callers (default: when credentials or a peer identity source are given). */
  authenticate?: boolean;
  /** Client certificates as principals (the cluster PKI's). */
  peerIdentity?: PeerIdentitySource;
  maxRequestBytes?: number;
  limits?: Partial<PrincipalLimits>;
}

export interface SecurityFlags {
  credentials?: string;
  acls?: string;
  authenticate?: boolean;
}

export async function loadSecurityConfig(flags: SecurityFlags): Promise<SecurityConfig> {
  return {
    credentials: flags.credentials ? await loadCredentialsFile(flags.credentials) : undefined,
    acls: flags.acls ? await Acls.load(flags.acls) : undefined,
    authenticate: flags.authenticate,
  };
}

export function serviceSecurity(config: SecurityConfig = {}, metrics?: Metrics): ServiceSecurity {
  const credentials = config.credentials ? new CredentialStore(config.credentials) : undefined;
  const required = config.authenticate ?? (credentials !== undefined || config.peerIdentity !== undefined);
  return {
    authenticator: new Authenticator({ credentials, peerIdentity: config.peerIdentity, required }),
    authorizer: new Authorizer(config.acls ?? Acls.permissive(), metrics),
    maxRequestBytes: config.maxRequestBytes,
    limits: { ...DEFAULT_PRINCIPAL_LIMITS, ...config.limits },
  };
}
