/** Durable file writes: fsync of files and directories, atomic replacement. */
import { mkdir, open, rename } from "node:fs/promises";
import { dirname } from "node:path";

/** fsync a file or a directory (a directory's fsync makes its new entries durable). */
export async function fsyncPath(path: string): Promise<void> {
  const fd = await open(path, "r");
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

let temps = 0;

/**
 * Replaces the file atomically and durably: temp file, fsync, rename, fsync of the
 * directory. The file is readable by its owner only (checkpoints hold tasks' environments),
 * and each write has its own temp file, so two writes of one path never rename each
 * other's (the last rename wins whole).
 */
export async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp.${process.pid}.${++temps}`;
  const fd = await open(tmp, "w", 0o600);
  try {
    await fd.writeFile(text);
    await fd.sync();
  } finally {
    await fd.close();
  }
  await rename(tmp, path);
  await fsyncPath(dirname(path));
}
