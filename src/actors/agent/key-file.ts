/**
 * A 32-byte key the agent keeps in its meta directory (base64, 0600), made on first use
 * and kept across restarts: executor tokens and sealed secrets each have one.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { NodeFileSystem } from "../../runtime/file-system.js";
import { writeAtomically } from "./durable.js";

export async function loadOrCreateKey(file: string): Promise<Buffer> {
  try {
    const key = Buffer.from((await readFile(file, "utf8")).trim(), "base64");
    if (key.length === 32) return key;
  } catch {
    // None yet: make one.
  }
  const key = randomBytes(32);
  await writeAtomically(new NodeFileSystem(), file, key.toString("base64") + "\n");
  return key;
}
