/**
 * Mutual TLS for the node's gRPC port and for clients of it. The server asks every client
 * for a certificate but does not require one (frameworks and operators may authenticate
 * with bearer or basic credentials instead); what needs a node identity (the actor
 * transport) checks for a verified certificate itself with `verifiedPeer`.
 */
import * as grpc from "@grpc/grpc-js";
import { isIP } from "node:net";
import { checkServerIdentity, createSecureContext, type PeerCertificate } from "node:tls";
import { authenticatedPeer, type PeerIdentity } from "../../runtime/identity.js";
import type { GrpcTransportSecurity } from "../../runtime/transports/grpc.js";
import type { PeerIdentitySource } from "../auth/authenticator.js";
import { hostsFromAltNames, identityFromAltNames, type CertIdentity, type CertRole } from "./node-identity.js";
import { certificateIdentity, type TlsMaterial } from "./tls-files.js";
import { ResumingChannelCredentials, withSessionTickets } from "./tls-resumption.js";

/**
 * A CertificateProvider that always has the same material. It answers a new listener in a
 * microtask: grpc-js registers the server's watcher only after adding the listeners.
 */
class StaticCertificates implements grpc.experimental.CertificateProvider {
  constructor(private readonly tls: TlsMaterial) {}
  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    queueMicrotask(() => listener({ caCertificate: Buffer.from(this.tls.ca) }));
  }
  removeCaCertificateListener(): void {}
  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    queueMicrotask(() => listener({ certificate: Buffer.from(this.tls.cert), privateKey: Buffer.from(this.tls.key) }));
  }
  removeIdentityCertificateListener(): void {}
}

/**
 * Server credentials: TLS with this node's certificate, client certificates requested and
 * verified against the CA, and required only when `requireClientCertificate`.
 */
export function serverCredentials(tls: TlsMaterial, requireClientCertificate = false, ticketKeys?: Buffer): grpc.ServerCredentials {
  const provider = new StaticCertificates(tls);
  return withSessionTickets(grpc.experimental.createCertificateProviderServerCredentials(provider, provider, requireClientCertificate), ticketKeys);
}

/** What a client requires of the server's certificate beyond the CA and the address. */
export interface ServerExpectation {
  /** The roles the server's certificate may have (e.g. an agent or a scheduler dials masters only). */
  roles: readonly CertRole[];
  /** The cluster it must be of (default: the client certificate's, when there is one). */
  cluster?: string;
}

/**
 * Why a server certificate (already verified against the CA) is not one of `expect`:
 * the address check of TLS, then its SPIFFE identity's role and cluster. Undefined: it is.
 */
export function serverIdentityProblem(hostname: string, cert: PeerCertificate, expect: ServerExpectation): Error | undefined {
  const addressProblem = checkServerIdentity(hostname, cert);
  if (addressProblem) return addressProblem;
  const identity = identityFromAltNames(cert.subjectaltname);
  const wanted = expect.roles.join(" or ");
  if (!identity) return new Error(`The server at ${hostname} presented a certificate without a cluster identity; expected a ${wanted} certificate`);
  if (!expect.roles.includes(identity.role)) {
    return new Error(`The server at ${hostname} presented a ${identity.role} certificate ('${identity.name}'); expected a ${wanted} certificate`);
  }
  if (expect.cluster !== undefined && identity.cluster !== expect.cluster) {
    return new Error(`The server at ${hostname} is ${identity.role} '${identity.name}' of cluster '${identity.cluster}', not '${expect.cluster}'`);
  }
  return undefined;
}

/**
 * Channel credentials: trust the cluster CA, present `cert`/`key` when given (mutual TLS),
 * and accept only a server whose certificate has one of `expect.roles` (default: a master,
 * what schedulers, operators and agents dial) in the client's own cluster.
 */
export function channelCredentials(tls: Pick<TlsMaterial, "ca"> & Partial<Pick<TlsMaterial, "cert" | "key">>, expect: ServerExpectation = { roles: ["master"] }): ResumingChannelCredentials {
  const cluster = expect.cluster ?? (tls.cert !== undefined ? certificateIdentity(tls.cert).cluster : undefined);
  const wanted = { ...expect, cluster };
  // Resumes each server's last TLS session (tls-resumption.ts); the identity check runs on every handshake.
  const context = createSecureContext({ ca: tls.ca, ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}) });
  return new ResumingChannelCredentials(context, (hostname, cert) => serverIdentityProblem(hostname, cert, wanted));
}

/** A verified client certificate's identity, the hosts it names and its serial number. */
export interface VerifiedPeer extends CertIdentity {
  hosts: string[];
  serial: string;
}

/** Which certificates are revoked (revocation.ts); absent: none. */
export interface Revocations {
  isRevoked(serial: string | undefined): boolean;
}

/** What a server call (unary or streaming) has for this: grpc-js server calls all do. */
export interface CallWithAuthContext {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

/**
 * The identity of the certificate the client of `call` presented, verified against the
 * cluster CA by the TLS handshake; undefined on a plaintext port, when the client sent no
 * certificate, or when its certificate names no cluster identity. The one place that reads
 * peer certificates: authentication of public calls uses it too.
 */
export function verifiedPeer(call: CallWithAuthContext): VerifiedPeer | undefined {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (!cert) return undefined;
  const identity = identityFromAltNames(cert.subjectaltname);
  if (!identity) return undefined;
  return { ...identity, hosts: hostsFromAltNames(cert.subjectaltname), serial: cert.serialNumber };
}

/**
 * Client certificates as principals for the public services (sec-auth's
 * PeerIdentitySource): a verified `principal` certificate authenticates as its name;
 * master and agent certificates are node identities, not principals.
 */
export const certificatePrincipals: PeerIdentitySource = revocableCertificatePrincipals();

/** `certificatePrincipals` that never authenticates a revoked certificate (the caller is then anonymous). */
export function revocableCertificatePrincipals(revoked?: Revocations): PeerIdentitySource {
  return {
    principalOf(authContext) {
      const cert = authContext?.sslPeerCertificate;
      const identity = cert ? identityFromAltNames(cert.subjectaltname) : undefined;
      if (identity?.role !== "principal" || revoked?.isRevoked(cert!.serialNumber)) return undefined;
      return identity.name;
    },
  };
}

/**
 * Authenticates a node that opened an actor-transport stream claiming `address`: it must
 * hold a verified master or agent certificate of `cluster` that names the address's host.
 * Returns the transport's PeerIdentity, or why the stream is refused.
 */
export function authenticateNode(call: CallWithAuthContext, address: string, cluster: string, revoked?: Revocations): PeerIdentity | string {
  const peer = verifiedPeer(call);
  if (!peer) return "the actor transport needs a client certificate issued by the cluster CA (mutual TLS)";
  if (revoked?.isRevoked(peer.serial)) return `the certificate of ${peer.role} '${peer.name}' (serial ${peer.serial.toLowerCase()}) is revoked`;
  if (peer.cluster !== cluster) return `certificate of ${peer.role} '${peer.name}' is for cluster '${peer.cluster}', not '${cluster}'`;
  if (peer.role !== "master" && peer.role !== "agent") return `a ${peer.role} certificate ('${peer.name}') may not join the actor transport; only masters and agents may`;
  const host = hostOf(address);
  if (!peer.hosts.includes(host)) {
    return `${peer.role} '${peer.name}' claims address ${address}, but its certificate names only ${peer.hosts.join(", ") || "no hosts"}`;
  }
  return authenticatedPeer(peer.name, peer.role);
}

/**
 * Mutual TLS for a node's gRPC transport: its port, its streams to peers, and the check of
 * who opened a stream. `plaintextClients` also serves clients without TLS on the port
 * (loopback dev clusters only); the actor transport still requires a node certificate.
 */
export function nodeTransportSecurity(tls: TlsMaterial, plaintextClients = false, revoked?: Revocations): GrpcTransportSecurity {
  const own = certificateIdentity(tls.cert);
  return {
    plaintextClients,
    server: serverCredentials(tls, false, tls.ticketKeys),
    // An agent dials only masters; a master dials masters (Raft) and agents (orders).
    client: channelCredentials(tls, { roles: own.role === "agent" ? ["master"] : ["master", "agent"], cluster: own.cluster }),
    authenticate: (call, address) => authenticateNode(call, address, own.cluster, revoked),
  };
}

/** The host part of host:port ([v6]:port too), lower case. */
function hostOf(address: string): string {
  const colon = address.lastIndexOf(":");
  let host = colon > 0 ? address.slice(0, colon) : address;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return isIP(host) ? host : host.toLowerCase();
}
