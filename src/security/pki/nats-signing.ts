/**
 * Sender identity on the NATS transport: NATS authenticates a connection to the server,
 * not who publishes on a subject, so every frame carries the publishing node's
 * certificate (`Dcos-Cert`, DER base64) and an ECDSA signature with its key over the
 * subject and the frame (`Dcos-Sig`). A receiver accepts a frame only when the certificate
 * is a master's or agent's of its own cluster CA (not revoked), the address the subject
 * names as sender is the certificate's (its name, or the host part one of its hosts), and
 * the signature holds; the frame's envelopes then carry that identity, as on mutual TLS.
 * Certificates are checked once and remembered; each frame costs one signature check.
 *
 * The signature binds the frame to its subject (recipient and sender) but not to a time: a
 * client allowed to publish on a node's subjects could replay a frame it saw. Restrict
 * publish permissions per node with NATS accounts when NATS carries actor messages.
 */
import { createPrivateKey, sign, verify, X509Certificate, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { authenticatedPeer, type PeerIdentity } from "../../runtime/identity.js";
import type { FrameAuthenticator } from "../../runtime/transports/nats.js";
import type { Revocations } from "./grpc-credentials.js";
import { hostsFromAltNames, identityFromAltNames, type CertIdentity } from "./node-identity.js";
import type { TlsMaterial } from "./tls-files.js";

export const CERT_HEADER = "Dcos-Cert";
export const SIGNATURE_HEADER = "Dcos-Sig";
/** Most distinct sender certificates remembered. */
const MAX_KNOWN = 10_000;

interface KnownSender {
  identity: CertIdentity;
  hosts: string[];
  serial: string;
  publicKey: KeyObject;
  notAfter: number;
}

function signedBytes(subject: string, frame: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(subject), Buffer.from([0]), frame]);
}

function hostOf(address: string): string {
  const colon = address.lastIndexOf(":");
  const host = colon > 0 ? address.slice(0, colon) : address;
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : isIP(host) ? host : host.toLowerCase();
}

export function natsFrameAuthenticator(tls: TlsMaterial, revoked?: Revocations): FrameAuthenticator {
  const ca = new X509Certificate(tls.ca);
  const own = new X509Certificate(tls.cert);
  const ownIdentity = identityFromAltNames(own.subjectAltName);
  if (!ownIdentity) throw new Error("the node's certificate names no cluster identity");
  const key = createPrivateKey(tls.key);
  const certHeader = own.raw.toString("base64");
  const known = new Map<string, KnownSender | string>();

  const check = (der: string): KnownSender | string => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(der, "base64"));
    } catch {
      return "its certificate does not parse";
    }
    // The CA's signature is the proof (checkIssued also compares key identifiers, which our CA does not derive the way OpenSSL expects).
    if (cert.issuer !== ca.subject || !cert.verify(ca.publicKey)) return "its certificate is not issued by the cluster CA";
    const identity = identityFromAltNames(cert.subjectAltName);
    if (!identity) return "its certificate names no cluster identity";
    if (identity.cluster !== ownIdentity.cluster) return `its certificate is of cluster '${identity.cluster}', not '${ownIdentity.cluster}'`;
    if (identity.role !== "master" && identity.role !== "agent") return `a ${identity.role} certificate ('${identity.name}') may not send actor messages`;
    if (Date.parse(cert.validFrom) > Date.now()) return `the certificate of ${identity.role} '${identity.name}' is not valid yet`;
    return { identity, hosts: hostsFromAltNames(cert.subjectAltName), serial: cert.serialNumber, publicKey: cert.publicKey, notAfter: Date.parse(cert.validTo) };
  };

  return {
    sign: (subject, frame) => ({ [CERT_HEADER]: certHeader, [SIGNATURE_HEADER]: sign("sha256", signedBytes(subject, frame), key).toString("base64") }),
    verify: (subject, sender, frame, header): PeerIdentity | string => {
      const der = header(CERT_HEADER);
      const signature = header(SIGNATURE_HEADER);
      if (!der || !signature) return "it is not signed (no Dcos-Cert/Dcos-Sig headers)";
      let k = known.get(der);
      if (k === undefined) {
        if (known.size >= MAX_KNOWN) known.clear();
        known.set(der, (k = check(der)));
      }
      if (typeof k === "string") return k;
      const who = `${k.identity.role} '${k.identity.name}'`;
      if (k.notAfter < Date.now()) return `the certificate of ${who} expired`;
      if (revoked?.isRevoked(k.serial)) return `the certificate of ${who} is revoked`;
      if (sender !== k.identity.name && !k.hosts.includes(hostOf(sender))) {
        return `${who} signed it, but the subject names sender '${sender}', which its certificate does not name`;
      }
      if (!verify("sha256", signedBytes(subject, frame), k.publicKey, Buffer.from(signature, "base64"))) return `the signature of ${who} does not match the frame`;
      return authenticatedPeer(k.identity.name, k.identity.role);
    },
  };
}
