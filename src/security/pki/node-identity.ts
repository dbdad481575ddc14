/**
 * What a cluster certificate says about its holder: a SPIFFE-style URI in the subject
 * alternative names, `spiffe://<cluster>/<role>/<name>`. The role decides what the holder
 * may do on the actor transport (only masters speak Raft and give orders, only agents
 * speak for themselves); the name is the node's or the principal's name.
 */
import { Code, DcosError } from "../../runtime/error.js";

/** master and agent: nodes of the cluster; principal: a framework or an operator (a client). */
export type CertRole = "master" | "agent" | "principal";

export const CERT_ROLES: readonly CertRole[] = ["master", "agent", "principal"];

export interface CertIdentity {
  cluster: string;
  role: CertRole;
  name: string;
}

/** Names and cluster names: letters, digits, '.', '_', '-' (they go into a URI path and into file names). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkName(what: string, value: string): string {
  if (!NAME.test(value)) {
    throw new DcosError(Code.INVALID_ARGUMENT, `${what} '${value}' is not valid: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return value;
}

export function identityUri(id: CertIdentity): string {
  return `spiffe://${checkName("cluster name", id.cluster)}/${id.role}/${checkName("name", id.name)}`;
}

/** The identity in a URI SAN, or undefined when the URI is not one of ours. */
export function parseIdentityUri(uri: string): CertIdentity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  const [, cluster, role, name] = m as unknown as [string, string, string, string];
  if (!CERT_ROLES.includes(role as CertRole) || !NAME.test(cluster) || !NAME.test(name)) return undefined;
  return { cluster, role: role as CertRole, name };
}

/**
 * The identity in a certificate's subjectAltName as Node's TLS reports it
 * ("DNS:a, IP Address:1.2.3.4, URI:spiffe://dcos/agent/a1"); undefined when it has none.
 */
export function identityFromAltNames(subjectaltname: string | undefined): CertIdentity | undefined {
  for (const part of (subjectaltname ?? "").split(",")) {
    const entry = part.trim();
    if (!entry.startsWith("URI:")) continue;
    const id = parseIdentityUri(entry.slice(4));
    if (id) return id;
  }
  return undefined;
}

/** The hosts (DNS names and IP addresses) a certificate's subjectAltName lists. */
export function hostsFromAltNames(subjectaltname: string | undefined): string[] {
  const hosts: string[] = [];
  for (const part of (subjectaltname ?? "").split(",")) {
    const entry = part.trim();
    if (entry.startsWith("DNS:")) hosts.push(entry.slice(4).toLowerCase());
    else if (entry.startsWith("IP Address:")) hosts.push(entry.slice(11).toLowerCase());
  }
  return hosts;
}
