/**
 * How `dcos-node run` finds a dev cluster's run service without being told: `--role=dev`
 * writes `run.json` (`{"url": "https://127.0.0.1:N", "loopback": "http://127.0.0.1:M"}`) into the client directory it keeps
 * for its master's address (dev-client-tls.ts, removed when it stops); the thin client
 * reads it by the `--master` it is given. node:fs only: the thin client loads this file.
 */
import { readFileSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const DEV_RUN_SERVICE_FILE = "run.json";

/** Where the service listens: its URL, and its plaintext loopback URL when it has one. */
export interface DevRunService {
  url: string;
  loopback?: string;
}

export async function writeDevRunService(dir: string, service: DevRunService): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, DEV_RUN_SERVICE_FILE);
  await writeFile(`${file}.tmp`, JSON.stringify(service) + "\n", { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/** The run service recorded in `dir`, if a dev cluster wrote one. */
export function readDevRunService(dir: string): DevRunService | undefined {
  try {
    const o = JSON.parse(readFileSync(join(dir, DEV_RUN_SERVICE_FILE), "utf8")) as { url?: unknown; loopback?: unknown };
    const ok = (u: unknown): u is string => typeof u === "string" && /^https?:\/\//.test(u);
    return ok(o.url) ? { url: o.url, ...(ok(o.loopback) ? { loopback: o.loopback } : {}) } : undefined;
  } catch {
    return undefined;
  }
}
