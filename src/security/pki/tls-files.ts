/**
 * A node's TLS material on disk and in memory. A node's TLS directory (`--tls-dir`) holds
 * `ca.crt` (the cluster CA it trusts), `node.crt` and `node.key` (its own certificate and
 * key, mode 0600); `dcos-node certs issue --out=DIR` writes exactly that. The CA's own
 * directory (`certs init --dir`) holds `ca.crt` and `ca.key` and stays on the operator's machine.
 */
import { X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, DcosError } from "../../runtime/error.js";
import { hostsFromAltNames, identityFromAltNames, type CertIdentity } from "./node-identity.js";

/** What a node or a client needs for mutual TLS: PEM text. */
export interface TlsMaterial {
  /** The cluster CA certificate(s) to trust. */
  ca: string;
  /** This holder's certificate (chain) and private key. */
  cert: string;
  key: string;
  /** A CRL file signed by the CA (`--tls-crl`): peers and clients it names are refused (revocation.ts). */
  crlFile?: string;
  /** Session ticket keys (`--tls-ticket-keys`, shared by masters): resumed sessions survive restarts (tls-resumption.ts). */
  ticketKeys?: Buffer;
}

/** Where the flags say the material is: a directory, or three files (files win over the directory's). */
export interface TlsPaths {
  dir?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export const CA_CERT_FILE = "ca.crt";
export const CA_KEY_FILE = "ca.key";
export const NODE_CERT_FILE = "node.crt";
export const NODE_KEY_FILE = "node.key";

/** Whether any TLS flag was given. */
export function tlsConfigured(paths: TlsPaths): boolean {
  return paths.dir !== undefined || paths.ca !== undefined || paths.cert !== undefined || paths.key !== undefined;
}

async function readPem(what: string, flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Cannot read the ${what} (${flag}) at ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads the CA, certificate and key the flags name; INVALID_ARGUMENT naming what is missing or unreadable. */
export async function loadTls(paths: TlsPaths): Promise<TlsMaterial> {
  const at = (file: string | undefined, name: string) => file ?? (paths.dir !== undefined ? join(paths.dir, name) : undefined);
  const caPath = at(paths.ca, CA_CERT_FILE);
  const certPath = at(paths.cert, NODE_CERT_FILE);
  const keyPath = at(paths.key, NODE_KEY_FILE);
  const missing = [caPath ? "" : "--tls-ca", certPath ? "" : "--tls-cert", keyPath ? "" : "--tls-key"].filter((m) => m !== "");
  if (missing.length > 0) throw new DcosError(Code.INVALID_ARGUMENT, `TLS needs a CA, a certificate and a key: give --tls-dir or ${missing.join(", ")}`);
  const material = {
    ca: await readPem("CA certificate", "--tls-ca", caPath!),
    cert: await readPem("certificate", "--tls-cert", certPath!),
    key: await readPem("private key", "--tls-key", keyPath!),
  };
  certificateIdentity(material.cert); // fails early on a certificate that is not one of ours
  return material;
}

/**
 * What a client (framework, operator CLI) trusts and presents: the CA, and its own
 * certificate and key when it has them (a directory from `certs issue --role=principal`, or
 * --tls-ca alone to verify the master and authenticate otherwise).
 */
export async function loadClientTls(paths: TlsPaths): Promise<Pick<TlsMaterial, "ca"> & Partial<TlsMaterial>> {
  if (paths.dir !== undefined || (paths.cert !== undefined && paths.key !== undefined)) return loadTls(paths);
  if (paths.cert !== undefined || paths.key !== undefined) throw new DcosError(Code.INVALID_ARGUMENT, "--tls-cert and --tls-key go together: give both or neither");
  if (paths.ca === undefined) throw new DcosError(Code.INVALID_ARGUMENT, "TLS needs the cluster CA: give --tls-dir or --tls-ca");
  return { ca: await readPem("CA certificate", "--tls-ca", paths.ca) };
}

/** Writes a node's TLS directory (ca.crt, node.crt, node.key with mode 0600). */
export async function writeNodeTls(dir: string, material: TlsMaterial): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, CA_CERT_FILE), material.ca, { mode: 0o644 });
  await writeFile(join(dir, NODE_CERT_FILE), material.cert, { mode: 0o644 });
  await writeFile(join(dir, NODE_KEY_FILE), material.key, { mode: 0o600 });
  await chmod(join(dir, NODE_KEY_FILE), 0o600);
}

/**
 * The identity and hosts a PEM certificate names (INVALID_ARGUMENT when it names no cluster
 * identity). Node's own X509Certificate reads it: its subjectAltName is the text a TLS peer's
 * certificate shows, so both are read alike, and a client (`dcos-node run`) does not load
 * @peculiar/x509 (a tenth of a second) just to check its certificate.
 */
export function certificateIdentity(pem: string): CertIdentity & { hosts: string[] } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new DcosError(Code.INVALID_ARGUMENT, `The certificate does not parse as PEM X.509: ${(err as Error).message}`, { cause: err });
  }
  const alt = cert.subjectAltName ?? "";
  const identity = identityFromAltNames(alt);
  if (!identity) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Certificate '${cert.subject.replace(/\n/g, ", ")}' has no cluster identity (a URI spiffe://<cluster>/<role>/<name>); issue it with 'dcos-node certs issue'`);
  }
  return { ...identity, hosts: hostsFromAltNames(alt) };
}
