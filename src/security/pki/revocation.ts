/**
 * Revoked certificates: a CRL signed by the cluster CA (`dcos-node certs revoke` writes it
 * to `<ca-dir>/crl.pem`; masters and agents read it with `--tls-crl=FILE`). A node refuses
 * a peer or client whose certificate's serial number is on it, on the actor transport (so a
 * revoked agent cannot register or reregister on a new connection) and as a principal on
 * the public services. The file is checked again every few seconds, so a revocation takes
 * effect without a restart; a list that does not parse or is not signed by the CA is
 * refused (the previous one stays in force) and logged.
 */
import { readFile, stat } from "node:fs/promises";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { Code, DcosError } from "../../runtime/error.js";

/** A serial number as Node's PeerCertificate and @peculiar/x509 may write it, normalized. */
export function normalizeSerial(hex: string): string {
  return hex.replace(/:/g, "").toLowerCase().replace(/^0+(?=.)/, "");
}

export class RevocationList {
  private constructor(
    private readonly serials: ReadonlySet<string>,
    readonly thisUpdate: Date,
  ) {}

  static empty(): RevocationList {
    return new RevocationList(new Set(), new Date(0));
  }

  /** Parses a PEM CRL and checks it is signed by the CA certificate `caPem`. */
  static async parse(pem: string, caPem: string, source = "CRL"): Promise<RevocationList> {
    let crl: x509.X509Crl;
    try {
      crl = new x509.X509Crl(pem);
    } catch (err) {
      throw new DcosError(Code.INVALID_ARGUMENT, `${source} is not a PEM certificate revocation list: ${(err as Error).message}`);
    }
    const ca = new x509.X509Certificate(caPem);
    if (!(await crl.verify({ publicKey: ca.publicKey }))) throw new DcosError(Code.INVALID_ARGUMENT, `${source} is not signed by the cluster CA (${ca.subject})`);
    return new RevocationList(new Set(crl.entries.map((e) => normalizeSerial(e.serialNumber))), crl.thisUpdate);
  }

  get size(): number {
    return this.serials.size;
  }

  isRevoked(serial: string | undefined): boolean {
    return serial !== undefined && this.serials.has(normalizeSerial(serial));
  }
}

/** A CRL file checked again every `intervalMs` (by modification time) while the node runs. */
export class RevocationWatcher {
  private current = RevocationList.empty();
  private mtimeMs = -1;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly file: string,
    private readonly caPem: string,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Loads the file (INVALID_ARGUMENT when it cannot be used at start) and keeps checking it. */
  static async start(file: string, caPem: string, onError: (err: Error) => void, intervalMs = 5000): Promise<RevocationWatcher> {
    const w = new RevocationWatcher(file, caPem, onError);
    await w.reload();
    w.timer = setInterval(() => void w.reload().catch((err: Error) => w.onError(err)), intervalMs);
    w.timer.unref();
    return w;
  }

  get list(): RevocationList {
    return this.current;
  }

  isRevoked(serial: string | undefined): boolean {
    return this.current.isRevoked(serial);
  }

  /** Reads the file again if it changed. */
  async reload(): Promise<void> {
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(this.file)).mtimeMs;
    } catch (err) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Cannot read the certificate revocation list ${this.file}: ${(err as Error).message}`);
    }
    if (mtimeMs === this.mtimeMs) return;
    this.current = await RevocationList.parse(await readFile(this.file, "utf8"), this.caPem, this.file);
    this.mtimeMs = mtimeMs;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
