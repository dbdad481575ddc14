/**
 * The CA's own directory (`dcos-node certs init --dir`): `ca.crt` and `ca.key` (0600).
 * Keep it off the nodes: they need only `ca.crt` and their own certificate.
 */
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, DcosError } from "../../runtime/error.js";
import { CertificateAuthority } from "./authority.js";
import { CA_CERT_FILE, CA_KEY_FILE } from "./tls-files.js";

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
