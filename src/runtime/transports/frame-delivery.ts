import { decodeFrame, FrameError } from "../frame-codec.js";
import type { PeerIdentity } from "../identity.js";
import type { TransportSink } from "../transport.js";

/**
 * Hands one received frame to the actor system: every envelope in order, or, when the
 * frame is over the limit or malformed, nothing, with the drop counted against the peer.
 * Never throws, so one bad frame cannot break the connection it came on. `identity` is who
 * the connection is authenticated as.
 */
export function deliverFrame(sink: TransportSink, peer: string, bytes: Uint8Array, maxFrameBytes: number, identity?: PeerIdentity): number {
  let envelopes;
  try {
    envelopes = decodeFrame(bytes, maxFrameBytes);
  } catch (err) {
    const reason = err instanceof FrameError ? err.reason : "undecodable";
    sink.frameDropped(peer, reason, `frame of ${bytes.length} bytes from ${peer}: ${(err as Error).message}`);
    return 0;
  }
  for (const env of envelopes) sink.deliverEnvelope(env, peer, identity);
  return envelopes.length;
}
