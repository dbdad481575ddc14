import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { RaftSnapshotMetadataSchema, RaftSnapshotSchema, type RaftSnapshot, type RaftSnapshotMetadata } from "../../gen/dcos/v1/raft_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { tag, varintSize, writeVarint } from "../proto-writer.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import type { FileSystem } from "../../runtime/file-system.js";
import { hex16 } from "./segment-name.js";
import { FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD, readFrame } from "./wal-frame.js";

const PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const TEMP_SUFFIX = ".tmp";

/** How many snapshot files are kept (the newest, and older ones to fall back on). */
export const SNAPSHOTS_KEPT = 2;

/** Bytes copied and checksummed per turn of the event loop while a snapshot file is framed. */
export const FRAME_SLICE_BYTES = 1024 * 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A snapshot file's one frame (length, CRC32, then the RaftSnapshot: its metadata, field 1,
 * and its data, field 2: the bytes encodeFrame(toBinary(snapshot)) gives) from the data in
 * pieces, copied and checksummed FRAME_SLICE_BYTES per turn of the loop, so that a large
 * snapshot holds up no member for long. `data` is the snapshot's data as a view into the
 * frame (no second copy).
 */
export async function frameSnapshot(metadata: RaftSnapshotMetadata, pieces: readonly Uint8Array[]): Promise<{ frame: Uint8Array; data: Uint8Array }> {
  const meta = toBinary(RaftSnapshotMetadataSchema, metadata);
  let dataLength = 0;
  for (const p of pieces) dataLength += p.length;
  const payload = 1 + varintSize(meta.length) + meta.length + (dataLength === 0 ? 0 : 1 + varintSize(dataLength) + dataLength);
  if (payload > MAX_FRAME_PAYLOAD) {
    throw new DcosError(Code.RESOURCE_EXHAUSTED, `A snapshot of ${payload} bytes is larger than a snapshot file may be (${MAX_FRAME_PAYLOAD} bytes)`);
  }
  // Every byte is written below: no zero-filling of a buffer as large as the state.
  const unfilled = Buffer.allocUnsafeSlow(FRAME_HEADER_BYTES + payload);
  const frame = new Uint8Array(unfilled.buffer, unfilled.byteOffset, unfilled.length);
  let pos = FRAME_HEADER_BYTES;
  frame[pos++] = tag.bytes(1);
  pos = writeVarint(frame, pos, meta.length);
  frame.set(meta, pos);
  pos += meta.length;
  if (dataLength > 0) {
    frame[pos++] = tag.bytes(2);
    pos = writeVarint(frame, pos, dataLength);
  }
  const dataStart = pos;
  new DataView(frame.buffer, frame.byteOffset, 4).setUint32(0, payload, true);
  let crc = crc32(frame.subarray(0, 4));
  crc = crc32(frame.subarray(FRAME_HEADER_BYTES, dataStart), crc);
  let sinceTurn = 0;
  for (const p of pieces) {
    for (let at = 0; at < p.length; ) {
      const n = Math.min(p.length - at, FRAME_SLICE_BYTES - sinceTurn);
      const part = p.subarray(at, at + n);
      frame.set(part, pos);
      crc = crc32(part, crc);
      pos += n;
      at += n;
      sinceTurn += n;
      if (sinceTurn >= FRAME_SLICE_BYTES) {
        sinceTurn = 0;
        await nextTurn();
      }
    }
  }
  new DataView(frame.buffer, frame.byteOffset + 4, 4).setUint32(0, crc, true);
  return { frame, data: frame.subarray(dataStart, dataStart + dataLength) };
}

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
    const { frame } = await frameSnapshot(snapshot.metadata!, [snapshot.data]);
    await this.saveFramed(snapshot, frame);
  }

  /** save() for a snapshot already framed by frameSnapshot (its data a view into the frame). */
  async saveFramed(snapshot: RaftSnapshot, frame: Uint8Array): Promise<void> {
    await this.fs.mkdirp(this.dir);
    const name = Snapshotter.fileName(snapshot);
    const temp = join(this.dir, name + TEMP_SUFFIX);
    await this.fs.writeFile(temp, frame);
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
