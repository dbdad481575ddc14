/**
 * Per-executor tokens: the agent gives each executor it starts a token in its environment
 * (DCOS_EXECUTOR_TOKEN) and its ExecutorService accepts a call only with the token of the
 * executor the call names, so no other local process (nor another executor) can report
 * status updates or messages for someone else's tasks. A token is an HMAC of the
 * framework and executor ids under a key the agent keeps in `<work>/meta` (0600), so
 * executors that outlive an agent restart still authenticate with the token they have.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { loadOrCreateKey } from "./key-file.js";

/** Tokens remembered (an HMAC per executor call otherwise); the oldest is dropped past this. */
const CACHED_TOKENS = 4096;

export class ExecutorTokens {
  private readonly cache = new Map<string, string>();

  private constructor(private readonly key: Buffer) {}

  /** A fresh key (tests, or an agent without a work dir). */
  static generate(): ExecutorTokens {
    return new ExecutorTokens(randomBytes(32));
  }

  /** The key in `<metaDir>/executor-token.key`, created on first use. */
  static async load(metaDir: string): Promise<ExecutorTokens> {
    return new ExecutorTokens(await loadOrCreateKey(join(metaDir, "executor-token.key")));
  }

  token(frameworkId: string, executorId: string): string {
    const name = `${frameworkId}\0${executorId}`;
    let t = this.cache.get(name);
    if (t === undefined) {
      t = createHmac("sha256", this.key).update(name).digest("base64url");
      if (this.cache.size >= CACHED_TOKENS) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(name, t);
    }
    return t;
  }

  /** Whether `token` is the one of this executor (constant time). */
  verify(frameworkId: string, executorId: string, token: string): boolean {
    const want = Buffer.from(this.token(frameworkId, executorId));
    const got = Buffer.from(token);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
