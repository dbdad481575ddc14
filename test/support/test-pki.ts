import { CertificateAuthority } from "../../src/security/pki/authority.js";
import type { CertRole } from "../../src/security/pki/node-identity.js";
import type { TlsMaterial } from "../../src/security/pki/tls-files.js";

const authorities = new Map<string, Promise<CertificateAuthority>>();

/** One CA per cluster name for the whole test file (making keys is cheap, but not free). */
export function testAuthority(cluster = "test"): Promise<CertificateAuthority> {
  let ca = authorities.get(cluster);
  if (!ca) authorities.set(cluster, (ca = CertificateAuthority.create({ cluster })));
  return ca;
}

/** A node's or a principal's TLS material from the test CA, for loopback by default. */
export async function testTls(role: CertRole, name: string, options: { cluster?: string; hosts?: string[] } = {}): Promise<TlsMaterial> {
  const ca = await testAuthority(options.cluster);
  const issued = await ca.issue({ role, name, hosts: options.hosts ?? ["127.0.0.1", "localhost"] });
  return { ca: ca.pem.cert, cert: issued.cert, key: issued.key };
}
