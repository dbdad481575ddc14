import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { join } from "node:path";
import { RaftSnapshotSchema, type RaftSnapshot } from "../../gen/dcos/v1/raft_pb.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import type { FileSystem } from "../../runtime/file-system.js";
import { hex16 } from "./segment-name.js";
import { encodeFrame, readFrame } from "./wal-frame.js";

const PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const TEMP_SUFFIX = ".tmp";

/** How many snapshot files are kept (the newest, and older ones to fall back on). */
export const SNAPSHOTS_KEPT = 2;

/**
 * Snapshot files `<term>-<index>.snap`, each one framed record (length + checksum) holding
 * a RaftSnapshot. A snapshot is written to a temp file, fdatasynced, renamed into place and
 * the directory fsynced, so a crash leaves either the old set of snapshots or the new one.
 */
export class Snapshotter {
  private readonly log: Logger;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    log?: Logger,
  ) {
    this.log = (log ?? silentLogger()).child({ component: "snapshotter" });
  }

  static fileName(snapshot: RaftSnapshot): string {
    const m = snapshot.metadata;
    return `${hex16(Number(m?.term ?? 0n))}-${hex16(Number(m?.index ?? 0n))}.snap`;
  }

  /** Durably stores the snapshot, then deletes all but the newest SNAPSHOTS_KEPT. */
  async save(snapshot: RaftSnapshot): Promise<void> {
    await this.fs.mkdirp(this.dir);
    const name = Snapshotter.fileName(snapshot);
    const temp = join(this.dir, name + TEMP_SUFFIX);
    await this.fs.writeFile(temp, encodeFrame(toBinary(RaftSnapshotSchema, snapshot)));
    await this.fs.syncFile(temp);
    await this.fs.rename(temp, join(this.dir, name));
    await this.fs.syncDir(this.dir);
    this.log.info({ file: name, index: Number(snapshot.metadata?.index ?? 0n) }, "Saved a snapshot");
    await this.prune();
  }

  /**
   * The newest snapshot that reads back whole, or undefined if there is none. Leftover
   * temp files (a crash during save) are deleted; a damaged snapshot is skipped with a
   * warning in favour of an older one.
   */
  async loadNewest(): Promise<RaftSnapshot | undefined> {
    const files = await this.fs.list(this.dir);
    for (const f of files.filter((f) => f.endsWith(TEMP_SUFFIX))) {
      this.log.warn({ file: f }, "Deleting a snapshot temp file left by a crash");
      await this.fs.unlink(join(this.dir, f));
    }
    for (const name of this.snapshotFiles(files).reverse()) {
      const path = join(this.dir, name);
      const frame = readFrame(await this.fs.readFile(path), 0);
      if (!frame.ok) {
        this.log.warn({ file: path, damage: frame.damage }, `Skipping damaged snapshot ${path} (${frame.damage})`);
        continue;
      }
      try {
        return fromBinary(RaftSnapshotSchema, frame.payload);
      } catch (e) {
        this.log.warn({ file: path, err: e }, `Skipping snapshot ${path}: it does not decode`);
      }
    }
    return undefined;
  }

  /** Snapshot file names, oldest first (by index). */
  private snapshotFiles(files: readonly string[]): string[] {
    return files
      .map((f) => ({ f, m: PATTERN.exec(f) }))
      .filter((x) => x.m !== null)
      .sort((a, b) => parseInt(a.m![2]!, 16) - parseInt(b.m![2]!, 16))
      .map((x) => x.f);
  }

  private async prune(): Promise<void> {
    const files = this.snapshotFiles(await this.fs.list(this.dir));
    const old = files.slice(0, Math.max(0, files.length - SNAPSHOTS_KEPT));
    for (const f of old) await this.fs.unlink(join(this.dir, f));
    if (old.length > 0) await this.fs.syncDir(this.dir);
  }
}
