/**
 * TLS session tickets of the thin `dcos-node run` (thin-http.ts), kept per user between
 * processes so the next run to the same service resumes its session: no certificate chain
 * to verify and no CertificateVerify to sign on either side (TLS 1.3 PSK with a fresh
 * ECDHE, so forward secrecy stays).
 *
 * One file per (OpenSSL version, service origin, CA, client certificate and key) under
 * `~/.dcos-node/tls-sessions/` (directory 0700, files 0600, written whole then renamed; the
 * newest MAX_SESSION_FILES kept: the save runs while the client waits for its answer). A
 * file is used only when it is a regular file of this user with no group or other access,
 * at most MAX_FILE_BYTES, of this format, for exactly this key, and younger than maxAgeMs;
 * anything else is ignored (a full handshake follows, whose ticket replaces it).
 *
 * Verification is not weakened: a server resumes a session only with the ticket key that
 * issued it, i.e. the server whose certificate the full handshake verified against this
 * same CA (the CA is part of the key), and Node runs the same `authorized` and host checks
 * on the resumed session's certificate as on a full handshake. Loaded only for https.
 */
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** Where tickets are kept by default. */
export function defaultSessionDir(): string {
  return join(homedir(), ".dcos-node", "tls-sessions");
}

/** A ticket file larger than this is not ours. */
const MAX_FILE_BYTES = 16 * 1024;
/** Most ticket files kept (one per service and identity); the oldest go first. */
export const MAX_SESSION_FILES = 64;
/** Tickets older than this are not offered (servers set their own, usually shorter, lifetime). */
export const DEFAULT_SESSION_MAX_AGE_MS = 24 * 3600_000;

export interface SessionCacheKey {
  /** host:port of the server. */
  origin: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export interface SessionCache {
  /** The cached session for this key, or undefined (none, or not valid: see the file's comment). */
  load(): Buffer | undefined;
  /** Keeps a ticket the server sent; errors are ignored (the cache is an optimisation). */
  save(session: Buffer): void;
}

interface TicketFile {
  v: 1;
  key: string;
  savedAt: number;
  session: string;
}

export function tlsSessionCache(k: SessionCacheKey, dir = defaultSessionDir(), now: () => number = Date.now, maxAgeMs = DEFAULT_SESSION_MAX_AGE_MS): SessionCache {
  const hash = createHash("sha256");
  // OpenSSL's version too: a session serialised by another (another Node) may not resume.
  for (const part of [process.versions.openssl ?? "", k.origin, k.ca ?? "", k.cert ?? "", k.key ?? ""]) hash.update(`${Buffer.byteLength(part)}:${part}`);
  const key = hash.digest("hex");
  const file = join(dir, `${key.slice(0, 32)}.json`);
  return {
    load() {
      try {
        const st = lstatSync(file);
        if (!st.isFile() || st.size > MAX_FILE_BYTES || (st.mode & 0o077) !== 0) return undefined;
        if (typeof process.getuid === "function" && st.uid !== process.getuid()) return undefined;
        const o = JSON.parse(readFileSync(file, "utf8")) as Partial<TicketFile>;
        if (o.v !== 1 || o.key !== key || typeof o.savedAt !== "number" || typeof o.session !== "string") return undefined;
        const age = now() - o.savedAt;
        if (age < 0 || age > maxAgeMs) return undefined;
        const session = Buffer.from(o.session, "base64");
        return session.length > 0 ? session : undefined;
      } catch {
        return undefined;
      }
    },
    save(session) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const body: TicketFile = { v: 1, key, savedAt: now(), session: session.toString("base64") };
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify(body), { mode: 0o600 });
        renameSync(tmp, file);
        prune(dir);
      } catch {
        // not cached: the next run makes a full handshake
      }
    },
  };
}

/** Keeps the newest MAX_SESSION_FILES ticket files (dev clusters on ephemeral ports leave one each). */
function prune(dir: string): void {
  const names = readdirSync(dir).filter((n) => /^[0-9a-f]{32}\.json$/.test(n));
  if (names.length <= MAX_SESSION_FILES) return;
  const byAge = names.map((n) => ({ n, t: lstatSync(join(dir, n)).mtimeMs })).sort((a, b) => a.t - b.t);
  for (const { n } of byAge.slice(0, byAge.length - MAX_SESSION_FILES)) rmSync(join(dir, n), { force: true });
}
