import { Code, DcosError } from "../../runtime/error.js";

/** `host:port`, with an IPv6 host in brackets; the port 1–65535. */
const ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

/**
 * Parses a master address as a scheduler is given it: `host:port`, or a pid
 * `master@host:port` (what a standby names as the leader). INVALID_ARGUMENT otherwise.
 */
export function parseMasterAddress(text: string): string {
  const trimmed = text.trim();
  const address = trimmed.includes("@") ? trimmed.slice(trimmed.lastIndexOf("@") + 1) : trimmed;
  const m = ADDRESS.exec(address);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid master address '${text}': expected host:port (or name@host:port)`);
  }
  return address;
}

/**
 * The masters a scheduler may talk to and which one to try next: the one a standby named
 * as the leader when there was such a hint, otherwise the next one of the list, round
 * robin. Counts redirects in a row so the driver can stop trusting hints that loop.
 */
export class MasterList {
  readonly addresses: readonly string[];
  private index = 0;
  private hinted: string | undefined;
  private redirectsInARow = 0;

  constructor(addresses: readonly string[]) {
    if (addresses.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "No master address given");
    this.addresses = addresses.map(parseMasterAddress);
  }

  /** The master to connect to now. */
  current(): string {
    return this.hinted ?? this.addresses[this.index]!;
  }

  /** Redirects followed since the last success. */
  get redirects(): number {
    return this.redirectsInARow;
  }

  /**
   * The attempt on current() failed. With a leader hint (a parseable address other than
   * the current one), the next attempt goes there; otherwise to the next master.
   * Returns whether the hint is followed.
   */
  failed(leaderHint?: string): boolean {
    const leader = leaderHint === undefined ? undefined : tryParse(leaderHint);
    if (leader !== undefined && leader !== this.current()) {
      this.hinted = leader;
      this.redirectsInARow++;
      return true;
    }
    this.hinted = undefined;
    this.redirectsInARow = 0;
    this.index = (this.index + 1) % this.addresses.length;
    return false;
  }

  /** The attempt on current() succeeded: stay with it. */
  succeeded(): void {
    this.redirectsInARow = 0;
  }
}

function tryParse(text: string): string | undefined {
  try {
    return parseMasterAddress(text);
  } catch {
    return undefined;
  }
}
