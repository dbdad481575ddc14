import { CrashFs } from "./crash-fs.js";

/**
 * A CrashFs that keeps, while `recording`, what a crash would leave after each of its
 * operations that can change that (writes, fdatasyncs, renames, directory fsyncs, removals,
 * truncations): crash-at-each-step tests restart from every one of them.
 */
export class SnapshotFs extends CrashFs {
  recording = false;
  readonly snapshots: { after: string; disk: CrashFs }[] = [];
  /** Directory fsyncs held (until releaseDirs()): a crash may come while one waits. */
  private heldDirs: { which: (dir: string) => boolean; waiting: (() => void)[] } | undefined;

  /** From now on, fsyncs of the directories `which` picks wait until releaseDirs(). */
  holdDirSyncs(which: (dir: string) => boolean): void {
    this.heldDirs = { which, waiting: [] };
  }

  releaseDirs(): void {
    const waiting = this.heldDirs?.waiting ?? [];
    this.heldDirs = undefined;
    for (const w of waiting) w();
  }

  private snap(after: string): void {
    if (this.recording) this.snapshots.push({ after, disk: this.crash() });
  }
  override async writeFile(path: string, data: Uint8Array): Promise<void> {
    await super.writeFile(path, data);
    this.snap(`write ${path}`);
  }
  /** Every fdatasync (syncFile's and an open file's). */
  override async syncInode(...args: Parameters<CrashFs["syncInode"]>): Promise<void> {
    await super.syncInode(...args);
    this.snap(`sync ${args[1]}`);
  }
  override async rename(from: string, to: string): Promise<void> {
    await super.rename(from, to);
    this.snap(`rename ${from}`);
  }
  override async syncDir(dir: string): Promise<void> {
    const held = this.heldDirs;
    if (held?.which(dir)) await new Promise<void>((r) => held.waiting.push(r));
    await super.syncDir(dir);
    this.snap(`syncdir ${dir}`);
  }
  override async remove(path: string): Promise<void> {
    await super.remove(path);
    this.snap(`remove ${path}`);
  }
  override async unlink(path: string): Promise<void> {
    await super.unlink(path);
    this.snap(`unlink ${path}`);
  }
  override async truncate(path: string, length: number): Promise<void> {
    await super.truncate(path, length);
    this.snap(`truncate ${path}`);
  }
}
