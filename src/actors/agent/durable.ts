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

/** Replaces the file atomically and durably: temp file, fsync, rename, fsync of the directory. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const fd = await open(tmp, "w");
  try {
    await fd.writeFile(text);
    await fd.sync();
  } finally {
    await fd.close();
  }
  await rename(tmp, path);
  await fsyncPath(dirname(path));
}
