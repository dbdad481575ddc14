/**
 * The cluster's certificate authority: a self-signed CA and the certificates it issues to
 * masters, agents and principals, built with @peculiar/x509 on Node's WebCrypto. Keys are
 * ECDSA P-256 (a TLS handshake signs with them; P-256 is the cheapest widely supported).
 */
import { webcrypto, randomBytes } from "node:crypto";
import { isIP } from "node:net";
// @peculiar/x509 resolves its parsers through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { Code, DcosError } from "../../runtime/error.js";
import { checkName, identityUri, type CertIdentity, type CertRole } from "./node-identity.js";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const crypto = webcrypto;
x509.cryptoProvider.set(crypto as never);

const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** PEM text of a certificate and its private key (PKCS#8). */
export interface CertAndKey {
  cert: string;
  key: string;
}

export interface AuthorityOptions {
  /** The cluster's name: it is in every identity the CA issues (default "dcos"). */
  cluster?: string;
  /** How long the CA is valid (default 10 years). */
  validDays?: number;
  now?: Date;
}

export interface IssueOptions {
  role: CertRole;
  name: string;
  /** IP addresses and DNS names the holder listens on (its server certificate must name them). */
  hosts?: readonly string[];
  /** Default 1 year. */
  validDays?: number;
  now?: Date;
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // a positive INTEGER
  return bytes.toString("hex");
}

function pemKey(pkcs8: ArrayBuffer): string {
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

function window(now: Date | undefined, days: number): { notBefore: Date; notAfter: Date } {
  const start = now ?? new Date();
  // Allow for clocks a little behind the CA's.
  return { notBefore: new Date(start.getTime() - 3_600_000), notAfter: new Date(start.getTime() + days * DAY_MS) };
}

/** A loaded CA: its certificate and signing key, able to issue certificates. */
export class CertificateAuthority {
  private constructor(
    readonly cluster: string,
    private readonly caCert: x509.X509Certificate,
    private readonly caKey: CryptoKey,
    /** The CA certificate and key as PEM, to write to disk. */
    readonly pem: CertAndKey,
  ) {}

  /** A new CA for the cluster. */
  static async create(options: AuthorityOptions = {}): Promise<CertificateAuthority> {
    const cluster = checkName("cluster name", options.cluster ?? "dcos");
    const keys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=dcos-node cluster CA ${cluster}, O=${cluster}`,
      ...window(options.now, options.validDays ?? 3650),
      signingAlgorithm: SIGNING_ALGORITHM,
      keys: keys as never,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
      ],
    });
    const key = pemKey(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
    return new CertificateAuthority(cluster, cert, keys.privateKey, { cert: cert.toString("pem"), key });
  }

  /** The CA of PEM files written by `create` (INVALID_ARGUMENT when they do not parse or do not match). */
  static async load(pem: CertAndKey): Promise<CertificateAuthority> {
    let cert: x509.X509Certificate;
    let key: CryptoKey;
    try {
      cert = new x509.X509Certificate(pem.cert);
      key = await crypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(pem.key), KEY_ALGORITHM, true, ["sign"]);
    } catch (err) {
      throw new DcosError(Code.INVALID_ARGUMENT, `The CA certificate or key does not parse (expected PEM, ECDSA P-256): ${(err as Error).message}`, { cause: err });
    }
    const cluster = /O=([^,]+)/.exec(cert.subject)?.[1]?.trim();
    if (!cluster) throw new DcosError(Code.INVALID_ARGUMENT, `The CA certificate '${cert.subject}' names no cluster (O=)`);
    // Sign a probe with the key and check it with the certificate's public key: the pair must match.
    const probe = randomBytes(32);
    const signature = await crypto.subtle.sign(SIGNING_ALGORITHM, key, probe);
    const publicKey = (await cert.publicKey.export(KEY_ALGORITHM, ["verify"])) as unknown as CryptoKey;
    if (!(await crypto.subtle.verify(SIGNING_ALGORITHM, publicKey, signature, probe))) {
      throw new DcosError(Code.INVALID_ARGUMENT, "The CA key does not belong to the CA certificate");
    }
    return new CertificateAuthority(cluster, cert, key, pem);
  }

  /**
   * A certificate revocation list signed by the CA naming `revoked` (hex serial numbers and
   * when they were revoked), valid until `nextUpdateDays` from now (PEM).
   */
  async revocationList(revoked: readonly { serial: string; at: Date }[], now = new Date(), nextUpdateDays = 365): Promise<string> {
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.caCert.subject,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + nextUpdateDays * DAY_MS),
      signingAlgorithm: SIGNING_ALGORITHM,
      signingKey: this.caKey as never,
      entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: r.at, reason: x509.X509CrlReason.keyCompromise })),
    });
    return crl.toString("pem");
  }

  /** A certificate for a master, an agent or a principal, usable as TLS server and client. */
  async issue(options: IssueOptions): Promise<CertAndKey & { identity: CertIdentity }> {
    const identity: CertIdentity = { cluster: this.cluster, role: options.role, name: checkName("name", options.name) };
    const names: { type: "dns" | "ip" | "url"; value: string }[] = [{ type: "url", value: identityUri(identity) }];
    for (const host of options.hosts ?? []) {
      if (isIP(host)) names.push({ type: "ip", value: host });
      else if (/^[A-Za-z0-9*][A-Za-z0-9.-]*$/.test(host)) names.push({ type: "dns", value: host.toLowerCase() });
      else throw new DcosError(Code.INVALID_ARGUMENT, `Host '${host}' is neither an IP address nor a DNS name`);
    }
    const keys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${identity.name}, OU=${identity.role}, O=${identity.cluster}`,
      issuer: this.caCert.subject,
      ...window(options.now, options.validDays ?? 365),
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: keys.publicKey as never,
      signingKey: this.caKey as never,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(names),
        await x509.AuthorityKeyIdentifierExtension.create(this.caCert),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
      ],
    });
    return { cert: cert.toString("pem"), key: pemKey(await crypto.subtle.exportKey("pkcs8", keys.privateKey)), identity };
  }
}
