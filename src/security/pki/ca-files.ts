/**
 * The CA's own directory (`dcos-node certs init --dir`): `ca.crt` and `ca.key` (0600).
 * Keep it off the nodes: they need only `ca.crt` and their own certificate.
 */
import { access, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, DcosError } from "../../runtime/error.js";
import { CertificateAuthority } from "./authority.js";
import { CA_CERT_FILE, CA_KEY_FILE } from "./tls-files.js";
import { normalizeSerial } from "./revocation.js";

/** The CA directory's CRL (copy it to each node's --tls-crl) and the record it is made from. */
export const CRL_FILE = "crl.pem";
const REVOKED_FILE = "revoked.json";

export interface RevokedEntry {
  serial: string;
  /** ISO time of the revocation. */
  at: string;
  /** Whose certificate it was (for people reading the record). */
  identity?: string;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Creates a CA in `dir`; ALREADY_EXISTS when one is there (so a node's trust is never replaced by accident) unless `force`. */
export async function initAuthority(dir: string, cluster: string, options: { force?: boolean; validDays?: number } = {}): Promise<CertificateAuthority> {
  const certPath = join(dir, CA_CERT_FILE);
  if (!options.force && (await exists(certPath))) {
    throw new DcosError(Code.ALREADY_EXISTS, `${certPath} exists already: a new CA would not be trusted by nodes holding certificates of the old one (give --force to replace it)`);
  }
  const ca = await CertificateAuthority.create({ cluster, ...(options.validDays !== undefined ? { validDays: options.validDays } : {}) });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, CA_KEY_FILE), ca.pem.key, { mode: 0o600 });
  await writeFile(certPath, ca.pem.cert, { mode: 0o644 });
  return ca;
}

/** The CA in `dir` (NOT_FOUND naming the file when it is missing). */
export async function loadAuthority(dir: string): Promise<CertificateAuthority> {
  const read = async (file: string) => {
    const path = join(dir, file);
    try {
      return await readFile(path, "utf8");
    } catch (err) {
      throw new DcosError(Code.NOT_FOUND, `Cannot read ${path} (create the CA with 'dcos-node certs init --dir=${dir}'): ${(err as Error).message}`, { cause: err });
    }
  };
  return CertificateAuthority.load({ cert: await read(CA_CERT_FILE), key: await read(CA_KEY_FILE) });
}

/**
 * Adds a certificate to the CA's revocations (`<dir>/revoked.json`) and writes a new CRL
 * signed by the CA to `<dir>/crl.pem`; returns every revoked entry. Revoking twice is a no-op.
 */
export async function revokeCertificate(dir: string, serial: string, identity?: string, now = new Date()): Promise<RevokedEntry[]> {
  const ca = await loadAuthority(dir);
  const recordPath = join(dir, REVOKED_FILE);
  let entries: RevokedEntry[] = [];
  try {
    entries = JSON.parse(await readFile(recordPath, "utf8")) as RevokedEntry[];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new DcosError(Code.INVALID_ARGUMENT, `Cannot read ${recordPath}: ${(err as Error).message}`);
  }
  const key = normalizeSerial(serial);
  if (!/^[0-9a-f]+$/.test(key)) throw new DcosError(Code.INVALID_ARGUMENT, `'${serial}' is not a hexadecimal serial number`);
  if (!entries.some((e) => normalizeSerial(e.serial) === key)) entries.push({ serial: key, at: now.toISOString(), ...(identity ? { identity } : {}) });
  const crl = await ca.revocationList(entries.map((e) => ({ serial: e.serial, at: new Date(e.at) })), now);
  for (const [file, text] of [[REVOKED_FILE, JSON.stringify(entries, null, 2) + "\n"], [CRL_FILE, crl]] as const) {
    const path = join(dir, file);
    await writeFile(path + ".tmp", text, { mode: 0o644 });
    await rename(path + ".tmp", path);
  }
  return entries;
}
