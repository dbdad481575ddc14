import type { Envelope } from "../../gen/dcos/v1/runtime_pb.js";
import { encodeFrame, envelopeSize, frameEntrySize } from "../frame-codec.js";

export interface FrameQueueOptions {
  /** Hard limit on one frame; an envelope that cannot fit alone is refused by push. */
  maxFrameBytes: number;
  /** Frames are cut at about this size so one write stays short (default 64 KiB). */
  targetFrameBytes?: number;
  /** Most envelopes per frame; 1 gives the naive one-message-per-write baseline. */
  maxEnvelopesPerFrame?: number;
  /** Encode frames as this length-delimited field of an enclosing message (gRPC: ConnectRequest.frame = 2). */
  wrapField?: number;
}

/**
 * The envelopes queued for one peer, taken off as batched frames: everything queued while
 * a write is pending or the connection is not ready goes out together in the next frames.
 */
export class FrameQueue {
  private envelopes: Envelope[] = [];
  private sizes: number[] = [];
  private head = 0;
  private queuedBytes = 0;
  private readonly target: number;
  private readonly maxCount: number;

  constructor(private readonly options: FrameQueueOptions) {
    this.target = Math.min(options.targetFrameBytes ?? 64 * 1024, options.maxFrameBytes);
    this.maxCount = options.maxEnvelopesPerFrame ?? Number.MAX_SAFE_INTEGER;
  }

  get length(): number {
    return this.envelopes.length - this.head;
  }

  /** Bytes of queued envelopes (as they will be framed). */
  get bytes(): number {
    return this.queuedBytes;
  }

  /** Queues an envelope; returns its framed size, or -1 when it alone exceeds maxFrameBytes. */
  push(envelope: Envelope): number {
    const size = envelopeSize(envelope);
    const framed = frameEntrySize(size);
    if (framed > this.options.maxFrameBytes) return -1;
    this.envelopes.push(envelope);
    this.sizes.push(size);
    this.queuedBytes += framed;
    return framed;
  }

  /** Takes the next frame (at least one envelope), or undefined when nothing is queued. */
  take(): Buffer | undefined {
    const start = this.head;
    const all = this.envelopes.length;
    if (start >= all) return undefined;
    let end = start;
    let bytes = 0;
    while (end < all && end - start < this.maxCount) {
      const framed = frameEntrySize(this.sizes[end]!);
      if (end > start && bytes + framed > this.target) break;
      bytes += framed;
      end++;
    }
    const wrap = this.options.wrapField;
    const frame = encodeFrame(this.envelopes, wrap === undefined ? { sizes: this.sizes } : { sizes: this.sizes, wrapField: wrap }, start, end);
    this.queuedBytes -= bytes;
    if (end === all) this.reset();
    else this.head = end;
    return frame;
  }

  /**
   * Writes frames until the queue is empty (true) or `write` returns false (backpressure:
   * the rest stays queued). Counts frames and envelopes into `stats`.
   */
  writeTo(write: (frame: Buffer, envelopes: number) => boolean, stats: { framesSent: number; envelopesSent: number }): boolean {
    for (;;) {
      const before = this.length;
      const frame = this.take();
      if (!frame) return true;
      const envelopes = before - this.length;
      stats.framesSent++;
      stats.envelopesSent += envelopes;
      if (!write(frame, envelopes)) return false;
    }
  }

  /** Empties the queue; returns how many envelopes were dropped. */
  clear(): number {
    const n = this.length;
    this.reset();
    return n;
  }

  private reset(): void {
    this.envelopes = [];
    this.sizes = [];
    this.head = 0;
    this.queuedBytes = 0;
  }
}
