/**
 * How a NATS client (the NATS transport, the event tap, `dcos-node events`) secures and
 * authenticates its connection: TLS verifying the server with a CA (and a client
 * certificate for servers that require one), and one of a credentials file (JWT and NKey
 * seed, as `nsc` writes), a user and password, or a token. Plain data, so it can be
 * handed to the tap's worker thread.
 */
import { readFile } from "node:fs/promises";
import { credsAuthenticator, type ConnectionOptions } from "@nats-io/transport-node";
import { Code, DcosError } from "../error.js";

export interface NatsSecurity {
  /** PEM file of the CA that signed the server's certificate; setting any TLS field requires TLS. */
  tlsCaFile?: string;
  /** PEM files of a client certificate and key, for servers that verify clients. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** A NATS .creds file (user JWT and NKey seed). */
  credsFile?: string;
  user?: string;
  password?: string;
  token?: string;
}

/** The connect() options for `security` (INVALID_ARGUMENT for contradictions or an unreadable file). */
export async function natsConnectOptions(security: NatsSecurity | undefined): Promise<Partial<ConnectionOptions>> {
  if (!security) return {};
  const s = security;
  const schemes = [s.credsFile !== undefined, s.user !== undefined || s.password !== undefined, s.token !== undefined].filter(Boolean).length;
  if (schemes > 1) throw new DcosError(Code.INVALID_ARGUMENT, "NATS authentication: give one of a credentials file, a user and password, or a token");
  if ((s.tlsCertFile === undefined) !== (s.tlsKeyFile === undefined)) throw new DcosError(Code.INVALID_ARGUMENT, "NATS TLS: a client certificate and its key go together");
  const options: Partial<ConnectionOptions> = {};
  if (s.tlsCaFile !== undefined || s.tlsCertFile !== undefined) {
    options.tls = {
      ...(s.tlsCaFile !== undefined ? { ca: await read(s.tlsCaFile, "NATS CA certificate") } : {}),
      ...(s.tlsCertFile !== undefined ? { cert: await read(s.tlsCertFile, "NATS client certificate") } : {}),
      ...(s.tlsKeyFile !== undefined ? { key: await read(s.tlsKeyFile, "NATS client key") } : {}),
    };
  }
  if (s.credsFile !== undefined) options.authenticator = credsAuthenticator(new TextEncoder().encode(await read(s.credsFile, "NATS credentials file")));
  if (s.user !== undefined) options.user = s.user;
  if (s.password !== undefined) options.pass = s.password;
  if (s.token !== undefined) options.token = s.token;
  return options;
}

async function read(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Cannot read the ${what} at ${path}: ${(err as Error).message}`, { cause: err });
  }
}
