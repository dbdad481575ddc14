/**
 * The NATS connection's TLS and credentials flags, shared by `--role=master --nats=…` (the
 * event tap) and `dcos-node events`. Secrets come from files, never from the command line
 * (which other users can read in /proc).
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { NatsSecurity } from "../runtime/transports/nats-security.js";

export interface NatsFlags {
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  natsCreds?: string;
  natsUser?: string;
  natsPasswordFile?: string;
  natsTokenFile?: string;
}

export function addNatsFlags(command: Command): Command {
  return command
    .option("--nats-tls-ca <file>", "NATS over TLS: the CA certificate (PEM) that signed the NATS server's certificate")
    .option("--nats-tls-cert <file>", "NATS over TLS: a client certificate (PEM), for servers that verify clients")
    .option("--nats-tls-key <file>", "NATS over TLS: the client certificate's key (PEM)")
    .option("--nats-creds <file>", "NATS: a credentials file (user JWT and NKey seed, as nsc writes)")
    .option("--nats-user <name>", "NATS: user name (with --nats-password-file)")
    .option("--nats-password-file <file>", "NATS: a file holding the user's password")
    .option("--nats-token-file <file>", "NATS: a file holding an authentication token");
}

async function secret(path: string, flag: string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (err) {
    throw new InvalidArgumentError(`${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The NatsSecurity the flags describe; undefined when none is given. */
export async function natsSecurity(f: NatsFlags): Promise<NatsSecurity | undefined> {
  const s: NatsSecurity = {
    ...(f.natsTlsCa !== undefined ? { tlsCaFile: f.natsTlsCa } : {}),
    ...(f.natsTlsCert !== undefined ? { tlsCertFile: f.natsTlsCert } : {}),
    ...(f.natsTlsKey !== undefined ? { tlsKeyFile: f.natsTlsKey } : {}),
    ...(f.natsCreds !== undefined ? { credsFile: f.natsCreds } : {}),
    ...(f.natsUser !== undefined ? { user: f.natsUser } : {}),
    ...(f.natsPasswordFile !== undefined ? { password: await secret(f.natsPasswordFile, "--nats-password-file") } : {}),
    ...(f.natsTokenFile !== undefined ? { token: await secret(f.natsTokenFile, "--nats-token-file") } : {}),
  };
  return Object.keys(s).length === 0 ? undefined : s;
}
