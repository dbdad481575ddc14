/**
 * The dev cluster's credentials, generated at start so `npm start` stays zero-config: one
 * principal for operators and the CLI and one per first-party framework, with random
 * secrets. The server side goes in `<work-dir>/credentials.json`, each principal's client
 * credential in `<work-dir>/credentials/<principal>.json` (all mode 0600), which clients
 * read with `--credential-file` or DCOS_NODE_CREDENTIAL_FILE.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Credential } from "./credentials.js";

/** The principals the dev cluster creates. */
export const DEV_PRINCIPALS = ["dcos-operator", "dcos-services", "dcos-jobs", "dcos-discovery", "dcos-run"] as const;

export interface DevCredentials {
  readonly credentials: readonly Credential[];
  /** The server's credentials file. */
  readonly file: string;
  /** Each principal's client credential file. */
  clientFile(principal: string): string;
}

export async function writeDevCredentials(workDir: string, principals: readonly string[] = DEV_PRINCIPALS): Promise<DevCredentials> {
  const credentials = principals.map((principal) => ({ principal, secret: randomBytes(24).toString("base64url") }));
  const dir = join(workDir, "credentials");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(workDir, "credentials.json");
  await writeFile(file, JSON.stringify({ credentials }, null, 2) + "\n", { mode: 0o600 });
  for (const c of credentials) await writeFile(join(dir, `${c.principal}.json`), JSON.stringify(c) + "\n", { mode: 0o600 });
  return { credentials, file, clientFile: (principal) => join(dir, `${principal}.json`) };
}
