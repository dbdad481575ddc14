import type { Message } from "@bufbuild/protobuf";
import type { Envelope } from "../gen/dcos/v1/runtime_pb.js";
import type { PeerIdentity } from "./identity.js";
import type { Pid } from "./pid.js";

/** Why a message or frame was dropped; each reason has its own counter `runtime/dropped/<reason>`. */
export type DropReason =
  | "undecodable" // a frame or payload that does not parse
  | "oversize" // a frame over the size limit
  | "unknown_type" // a payload type the receiving system does not know
  | "unknown_actor" // no actor by that name on the receiving node
  | "no_handler" // the actor has no handler for that type
  | "misaddressed" // an envelope for another node
  | "spoofed" // an envelope whose sender is not on the node of the connection it arrived on
  | "unauthenticated" // a frame without valid proof of its sender (NATS frames not signed by the node they claim to come from)
  | "superseded" // a frame on a connection older than the newest one its sender opened to this node
  | "unreachable" // the peer could not be reached and the message was given up
  | "terminated" // the receiving actor terminated with the message still queued
  | "mailbox_full" // the receiving actor's mailbox held its limit of queued items (a message from another node)
  | "mailbox_shed"; // a message its sender retries, from another node, to an actor whose mailbox held its shedding bound (ActorCell.shed)

export const DROP_REASONS: readonly DropReason[] = [
  "undecodable",
  "oversize",
  "unknown_type",
  "unknown_actor",
  "no_handler",
  "misaddressed",
  "spoofed",
  "unauthenticated",
  "superseded",
  "unreachable",
  "terminated",
  "mailbox_full",
  "mailbox_shed",
];

/** Default limit on one frame (a batch of envelopes) received from a peer. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** A message leaving an actor system for another node. */
export interface Outbound {
  from: Pid;
  to: Pid;
  message: Message;
}

/**
 * What a transport calls back into. The actor system implements it: it owns the codec
 * (its type registry), the routing to actors, the drop counters and the links.
 */
export interface TransportSink {
  /** Encodes an outbound message into an envelope (throws for an unregistered type). */
  encode(out: Outbound): Envelope;
  /**
   * An envelope arrived from the node at `peer` (the address the connection belongs to),
   * authenticated as `identity` (unauthenticated when omitted); the system decodes and
   * routes it, and drops it as spoofed when its sender is not on `peer`.
   */
  deliverEnvelope(envelope: Envelope, peer: string, identity?: PeerIdentity): void;
  /** An already-decoded message arrived (in-process transports skip encoding). */
  deliverMessage(from: Pid, to: Pid, message: Message, identity?: PeerIdentity): void;
  /** The connection to a peer broke (or a probe timed out): linked actors get exited. */
  peerExited(address: string): void;
  /** A whole frame from `peer` was dropped (undecodable or oversize). */
  frameDropped(peer: string, reason: DropReason, detail: string): void;
  /** Outbound messages to `peer` were given up. */
  sendFailed(peer: string, count: number, detail: string): void;
}

/**
 * Carries envelopes between actor systems on different nodes. Every implementation keeps
 * messages from one sender to one receiver in order (the simulated network may reorder
 * only when told to), and reports a broken connection to a linked peer as peerExited.
 */
export interface Transport {
  /** This node's address: the part after '@' in the pids of its actors. */
  readonly address: string;
  start(sink: TransportSink): Promise<void>;
  /** Queues a message for its node; never blocks; coalesces what is queued per peer. */
  send(out: Outbound): void;
  /** Watches the connection to a peer; peerExited fires when it breaks or cannot be made. */
  link(address: string): void;
  stop(): Promise<void>;
}
