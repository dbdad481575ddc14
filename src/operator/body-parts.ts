/**
 * A response body made of parts that outlive one body: /state is assembled from fragments
 * kept between builds (state-fragments.ts), so most of a new body is parts of the last one.
 * Each part keeps its bytes and its compressed bytes once made, so a new version costs only
 * the parts that changed:
 *
 * - identity: the parts' bytes concatenated;
 * - gzip: ONE gzip member whose deflate data is the parts' deflate streams one after the
 *   other. Each part is compressed on its own (raw deflate, ended with a sync flush: the
 *   stream stops byte-aligned after a non-final block and refers to nothing before it), so
 *   compressed parts concatenate into valid deflate data; an empty final block closes it,
 *   and the trailer carries the CRC-32 and length of the whole body (RFC 1952), combined
 *   from the parts' kept CRCs. Every gzip reader takes it (it is not a multi-member file,
 *   which some browsers do not read).
 *
 * Compression runs on libuv's thread pool, a few parts at a time (the pool also serves the
 * master's file writes, the Raft log's among them).
 */
import { promisify } from "node:util";
import { constants, crc32, deflateRaw as deflateRawCallback } from "node:zlib";

const deflateRaw = promisify(deflateRawCallback);

/** The gzip level (bench `state`: level 6 makes 0.6 of level 1's bytes; a part takes a few ms). */
export const GZIP_LEVEL = 6;
/** Parts compressed at once (each holds one thread of the pool). */
const CONCURRENCY = 2;

/** The CRC-32 polynomial (reflected), as gzip and zlib use it. */
const POLY = 0xedb88320;

/** a(x) b(x) modulo the CRC polynomial (zlib's multmodp). */
function multmodp(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0..31. */
const X2N: number[] = [];
for (let k = 0, p = 1 << 30; k < 32; k++, p = multmodp(p, p)) X2N.push(p >>> 0);

/**
 * The CRC-32 of A followed by B from crc(A), crc(B) and B's length (zlib's crc32_combine):
 * a body's CRC from its parts' kept CRCs, without reading its 25 MB again.
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  let p = 0x80000000; // x^0
  for (let n = lengthB, k = 3; n > 0; n = Math.floor(n / 2), k++) if (n % 2 === 1) p = multmodp(X2N[k % 32]!, p);
  return (multmodp(p, crcA >>> 0) ^ crcB) >>> 0;
}

/** gzip header: magic, deflate, no flags, no mtime, no extra flags, OS unknown. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
/** An empty final block with fixed codes: BFINAL=1, BTYPE=01, end-of-block. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);

export class BodyPart {
  private text_: string | (() => string) | undefined;
  private bytes_: Buffer | undefined;
  private deflated_: Promise<Buffer> | undefined;
  private crc_: number | undefined;

  /** `text` may be made only when the bytes are first needed (outside the master actor's turn). */
  constructor(text: string | (() => string)) {
    this.text_ = text;
  }

  /** The part's UTF-8 bytes (made once; the text is let go then). */
  get bytes(): Buffer {
    if (!this.bytes_) {
      const text = this.text_!;
      this.bytes_ = Buffer.from(typeof text === "string" ? text : text());
      this.text_ = undefined;
    }
    return this.bytes_;
  }

  /** The CRC-32 of the part's bytes (computed once). */
  get crc(): number {
    return (this.crc_ ??= crc32(this.bytes));
  }

  get made(): boolean {
    return this.bytes_ !== undefined;
  }

  /** Raw deflate of the part, sync-flushed so that it can be followed by another part's. */
  deflated(level: number): Promise<Buffer> {
    return (this.deflated_ ??= deflateRaw(this.bytes, { level, finishFlush: constants.Z_SYNC_FLUSH }));
  }

  get compressed(): boolean {
    return this.deflated_ !== undefined;
  }
}

/** Runs fn over items with at most `limit` in flight, results in order. */
async function limited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class PartsBody {
  private bytes_: Buffer | undefined;
  private gzipped_: Promise<Buffer> | undefined;

  constructor(readonly parts: readonly BodyPart[]) {}

  static of(text: string): PartsBody {
    return new PartsBody([new BodyPart(text)]);
  }

  /** The parts' bytes in order (a body to send without concatenating it). */
  buffers(): Buffer[] {
    return this.parts.map((p) => p.bytes);
  }

  /** The body's length in bytes. */
  get length(): number {
    let n = 0;
    for (const p of this.parts) n += p.bytes.length;
    return n;
  }

  /** The whole body (concatenated once). */
  get bytes(): Buffer {
    return (this.bytes_ ??= this.parts.length === 1 ? this.parts[0]!.bytes : Buffer.concat(this.parts.map((p) => p.bytes)));
  }

  /**
   * Makes the parts' bytes a few at a time, yielding to the event loop between them (a
   * cold body is 25 MB at 10,000 agents): then `bytes` only concatenates.
   */
  async prepare(sliceMs = 10): Promise<void> {
    let until = performance.now() + sliceMs;
    for (const p of this.parts) {
      if (p.made) continue;
      void p.bytes;
      if (performance.now() > until) {
        await new Promise((resolve) => setImmediate(resolve));
        until = performance.now() + sliceMs;
      }
    }
  }

  /** Parts not compressed yet (what a new version costs to gzip). */
  uncompressed(): number {
    return this.parts.filter((p) => !p.compressed).length;
  }

  /** The body as one gzip member, made once, from the parts' kept deflate streams. */
  gzipped(level = GZIP_LEVEL): Promise<Buffer> {
    return (this.gzipped_ ??= this.gzip(level));
  }

  private async gzip(level: number): Promise<Buffer> {
    const deflated = await limited(this.parts, CONCURRENCY, (p) => p.deflated(level));
    let crc = 0;
    let length = 0;
    for (const p of this.parts) {
      crc = crc32Combine(crc, p.crc, p.bytes.length);
      length += p.bytes.length;
    }
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc >>> 0, 0);
    trailer.writeUInt32LE(length % 0x1_0000_0000, 4);
    return Buffer.concat([GZIP_HEADER, ...deflated, FINAL_BLOCK, trailer]);
  }
}
