/**
 * The TLS flags of a node (--tls-dir, or --tls-ca/--tls-cert/--tls-key; --insecure) and the
 * rule for using them: a master or agent on a network address runs with mutual TLS, or
 * refuses to start unless --insecure says plainly that it should not; on loopback a node
 * without TLS flags runs plaintext as before. The dev cluster makes its own CA (see roles.ts).
 */
import { InvalidArgumentError } from "commander";
import { isIP } from "node:net";
import type { Logger } from "../runtime/log.js";
import { CertificateAuthority } from "../security/pki/authority.js";
import { certificateIdentity, loadTls, tlsConfigured, writeNodeTls, type TlsMaterial } from "../security/pki/tls-files.js";
import { loadTicketKeys } from "../security/pki/tls-resumption.js";

export interface TlsFlags {
  tlsDir?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** A CRL signed by the cluster CA (`dcos-node certs revoke` writes one). */
  tlsCrl?: string;
  /** 48 bytes of session ticket keys in base64, the same on every master (`dcos-node certs ticket-keys`). */
  tlsTicketKeys?: string;
  /** Run without TLS on a network address (every peer and client unauthenticated). */
  insecure?: boolean;
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export function isLoopback(ip: string): boolean {
  if (ip === "localhost" || ip === "::1") return true;
  return isIP(ip) === 4 && ip.startsWith("127.");
}

/**
 * The TLS material a `--role=master|agent` node runs with, or undefined for plaintext.
 * Refuses (INVALID_ARGUMENT) a non-loopback address without TLS unless --insecure, and a
 * certificate issued for another role.
 */
export async function nodeTls(role: "master" | "agent", ip: string, flags: TlsFlags, logger: Logger): Promise<TlsMaterial | undefined> {
  const paths = { dir: flags.tlsDir, ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey };
  if (tlsConfigured(paths)) {
    if (flags.insecure) throw new InvalidArgumentError("--insecure and TLS flags (--tls-dir, --tls-ca, --tls-cert, --tls-key) contradict each other: give one or the other");
    const tls = await loadTls(paths);
    if (flags.tlsCrl) tls.crlFile = flags.tlsCrl;
    if (flags.tlsTicketKeys) tls.ticketKeys = await loadTicketKeys(flags.tlsTicketKeys);
    const id = certificateIdentity(tls.cert);
    if (id.role !== role) throw new InvalidArgumentError(`--role=${role} needs a ${role} certificate, but ${flags.tlsCert ?? flags.tlsDir} holds ${id.role === "agent" ? "an" : "a"} ${id.role} certificate ('${id.name}')`);
    return tls;
  }
  if (!isLoopback(ip) && !flags.insecure) {
    throw new InvalidArgumentError(
      `--role=${role} on ${ip} (not loopback) refuses to start without TLS: anyone on the network could join as a master or agent. ` +
        `Give --tls-dir=DIR (create it with 'dcos-node certs init' and 'dcos-node certs issue') and credentials, or --insecure to run without authentication anyway`,
    );
  }
  if (flags.insecure) logger.warn(`--insecure: ${role} on ${ip} runs without TLS; any process that reaches the port is trusted as a master or an agent`);
  return undefined;
}

/**
 * The dev cluster's PKI, made at start and never asked about: a CA for the cluster, a
 * certificate per node for the loopback addresses, and a principal's TLS directory
 * (`<workDir>/tls`) for CLI clients of this cluster.
 */
export class DevPki {
  private constructor(private readonly ca: CertificateAuthority, private readonly hosts: string[]) {}

  static async create(cluster: string, ip: string): Promise<DevPki> {
    const hosts = [...new Set(["127.0.0.1", "localhost", "::1", ip])];
    return new DevPki(await CertificateAuthority.create({ cluster }), hosts);
  }

  async issue(role: "master" | "agent" | "principal", name: string): Promise<TlsMaterial> {
    const issued = await this.ca.issue({ role, name, hosts: this.hosts });
    return { ca: this.ca.pem.cert, cert: issued.cert, key: issued.key };
  }

  /** Writes a principal's TLS directory for CLI clients (`--tls-dir`). */
  async writeClientDir(dir: string, name: string): Promise<void> {
    await writeNodeTls(dir, await this.issue("principal", name));
  }
}
