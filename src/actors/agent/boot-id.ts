/**
 * Machine reboot detection (Mesos's slave/state boot_id): the agent checkpoints the kernel's
 * boot id (`/proc/sys/kernel/random/boot_id`, new at every boot) in `<work>/meta/boot-id`. When
 * the checkpointed one differs from the current one the machine rebooted: every process of the
 * previous boot is gone, so no executor can come back and their tasks are reported GONE with
 * REASON_AGENT_REBOOTED instead of waiting for executors to reconnect.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { FileSystem } from "../../runtime/file-system.js";
import { writeAtomically } from "./durable.js";
import { metaDir } from "./checkpoint.js";

/** Where the agent reads the current boot id from; tests inject their own. */
export type BootIdSource = () => Promise<string>;

export const LINUX_BOOT_ID = "/proc/sys/kernel/random/boot_id";

/** The kernel's boot id, or "" where the kernel has none (then reboots go undetected). */
export const linuxBootId: BootIdSource = async () => {
  try {
    return (await readFile(LINUX_BOOT_ID, "utf8")).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
};

function bootIdFile(workDir: string): string {
  return join(metaDir(workDir), "boot-id");
}

export async function writeBootId(fs: FileSystem, workDir: string, bootId: string): Promise<void> {
  await writeAtomically(fs, bootIdFile(workDir), bootId + "\n");
}

/** The boot id checkpointed by the previous run, or "" when none was. */
export async function readCheckpointedBootId(fs: FileSystem, workDir: string): Promise<string> {
  try {
    return new TextDecoder().decode(await fs.readFile(bootIdFile(workDir))).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

/** Rebooted when both ids are known and differ. */
export function rebootedSince(checkpointed: string, current: string): boolean {
  return checkpointed !== "" && current !== "" && checkpointed !== current;
}
