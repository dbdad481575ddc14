/**
 * Who sent a message, as the transport it arrived on knows it: the identity bound to the
 * connection (a verified certificate on mutual TLS, the configured identity of a simulated
 * or in-process node), never a name written inside the message. Actors read it with
 * `Actor.sender` while they handle the message and decide what the peer may do.
 */
export interface PeerIdentity {
  /** The authenticated name (a certificate's node name); for unauthenticated peers their node address. */
  readonly name: string;
  /** What the peer may act as ("master", "agent", …); ANY_ROLE for an unauthenticated peer. */
  readonly role: string;
  /** false when the transport does not authenticate peers (plaintext gRPC with --insecure, NATS). */
  readonly authenticated: boolean;
}

/** The role of an unauthenticated peer: a transport that does not authenticate trusts every peer (--insecure). */
export const ANY_ROLE = "*";

/** The identity of a peer on a transport that does not authenticate: its address, trusted for every role. */
export function unauthenticatedPeer(address: string): PeerIdentity {
  return { name: address, role: ANY_ROLE, authenticated: false };
}

/** An authenticated identity with one role. */
export function authenticatedPeer(name: string, role: string): PeerIdentity {
  return { name, role, authenticated: true };
}

/** Whether the peer may act as `role`: an authenticated peer only in its own role, an unauthenticated one in any. */
export function actsAs(peer: PeerIdentity, role: string): boolean {
  return peer.role === role || peer.role === ANY_ROLE;
}

/** How a peer is named in logs and refusals: "agent 'agent-1'" or "unauthenticated 127.0.0.1:5051". */
export function describePeer(peer: PeerIdentity): string {
  return peer.authenticated ? `${peer.role} '${peer.name}'` : `unauthenticated ${peer.name}`;
}
