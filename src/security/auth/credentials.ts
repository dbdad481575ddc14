/**
 * The principals and secrets a node accepts (`--credentials`), in Mesos's shapes: JSON
 * `{"credentials": [{"principal": "ops", "secret": "…"}]}` or text lines `principal secret`.
 * A client proves a principal with `Authorization: Basic base64(principal:secret)` or
 * `Authorization: Bearer <secret>` (secrets are therefore unique per file). Comparisons are
 * constant-time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { Code, DcosError } from "../../runtime/error.js";

export interface Credential {
  principal: string;
  secret: string;
}

/** Longest principal accepted anywhere (also the limit on principals in requests). */
export const MAX_PRINCIPAL_LENGTH = 256;
const MAX_SECRET_LENGTH = 4096;
const PRINCIPAL = /^[A-Za-z0-9._@:+-]+$/;

function invalid(message: string): DcosError {
  return new DcosError(Code.INVALID_ARGUMENT, message);
}

/** A principal's problem (empty, too long, odd characters), or undefined. */
export function principalProblem(principal: string): string | undefined {
  if (principal === "") return "it is empty";
  if (principal.length > MAX_PRINCIPAL_LENGTH) return `it is longer than ${MAX_PRINCIPAL_LENGTH} characters`;
  if (!PRINCIPAL.test(principal)) return "it may hold only letters, digits and . _ @ : + -";
  return undefined;
}

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

/** Parses the text of a credentials file (JSON or `principal secret` lines). */
export function parseCredentials(text: string, source = "credentials"): Credential[] {
  const trimmed = text.trim();
  let list: Credential[];
  if (trimmed.startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (err) {
      throw invalid(`${source}: not valid JSON: ${(err as Error).message}`);
    }
    const creds = (json as { credentials?: unknown }).credentials;
    if (!Array.isArray(creds)) throw invalid(`${source}: expected {"credentials": [{"principal": …, "secret": …}]}`);
    list = creds.map((c: unknown, i) => {
      const { principal, secret } = (c ?? {}) as Record<string, unknown>;
      if (typeof principal !== "string" || typeof secret !== "string") throw invalid(`${source}: credential #${i + 1} needs string "principal" and "secret"`);
      return { principal, secret };
    });
  } else {
    list = trimmed
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"))
      .map((line, i) => {
        const parts = line.split(/\s+/);
        if (parts.length !== 2) throw invalid(`${source}: line ${i + 1} must be 'principal secret'`);
        return { principal: parts[0]!, secret: parts[1]! };
      });
  }
  const principals = new Set<string>();
  const secrets = new Set<string>();
  list.forEach((c, i) => {
    const p = principalProblem(c.principal);
    if (p) throw invalid(`${source}: credential #${i + 1}: invalid principal '${c.principal.slice(0, 64)}': ${p}`);
    if (c.secret.length < 8 || c.secret.length > MAX_SECRET_LENGTH) throw invalid(`${source}: the secret of '${c.principal}' must have 8 to ${MAX_SECRET_LENGTH} characters`);
    if (/\s/.test(c.secret)) throw invalid(`${source}: the secret of '${c.principal}' contains whitespace`);
    if (principals.has(c.principal)) throw invalid(`${source}: principal '${c.principal}' appears twice`);
    if (secrets.has(c.secret)) throw invalid(`${source}: two principals share a secret (bearer tokens must name one principal)`);
    principals.add(c.principal);
    secrets.add(c.secret);
  });
  return list;
}

/** Reads a credentials file; refuses one that others may read (it holds secrets). */
export async function loadCredentialsFile(path: string): Promise<Credential[]> {
  let text: string;
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) throw invalid(`Credentials file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    text = await readFile(path, "utf8");
  } catch (err) {
    if (DcosError.is(err)) throw err;
    throw invalid(`Cannot read credentials file ${path}: ${(err as Error).message}`);
  }
  return parseCredentials(text, path);
}

/** The accepted credentials, looked up by principal or by secret (a bearer token). */
export class CredentialStore {
  private readonly byPrincipal = new Map<string, Buffer>();
  private readonly bySecret = new Map<string, string>();

  constructor(credentials: readonly Credential[]) {
    for (const c of credentials) {
      this.byPrincipal.set(c.principal, digest(c.secret));
      this.bySecret.set(digest(c.secret).toString("hex"), c.principal);
    }
  }

  get size(): number {
    return this.byPrincipal.size;
  }

  /** Whether a principal has credentials (then only its secret or certificate proves it). */
  has(principal: string): boolean {
    return this.byPrincipal.has(principal);
  }

  /** Whether `secret` is `principal`'s (constant time in the secret). */
  verify(principal: string, secret: string): boolean {
    const known = this.byPrincipal.get(principal);
    const given = digest(secret);
    return known !== undefined && timingSafeEqual(known, given);
  }

  /** The principal whose secret this bearer token is. */
  principalOfToken(token: string): string | undefined {
    // Looking up the hash of the token does not reveal secrets by timing.
    return this.bySecret.get(digest(token).toString("hex"));
  }
}
