/**
 * TLS session resumption for the node's gRPC port, so a storm of reconnections (agents
 * after a network cut or a master restart) costs a resumed handshake (no certificate
 * signatures or chain verification) instead of a full one.
 *
 * - Servers issue TLS 1.3 session tickets under `ticketKeys` (48 bytes). Node's TLS server
 *   does so by default with keys made at start; a key given here (`--tls-ticket-keys`,
 *   the same file on every master) lets a restarted master, or another master holding the
 *   same keys, resume its clients' sessions. grpc-js keeps constructor options across its
 *   certificate updates (`setSecureContext` keeps `ticketKeys`), so keys survive rotation.
 * - grpc-js's own TLS connector never offers a session, so `ResumingChannelCredentials`
 *   (a `grpc.ChannelCredentials` with its own connector) keeps the latest ticket of each
 *   server address it reached and offers it on the next connection there.
 *
 * A resumed session keeps the peer certificate of the full handshake it came from, so
 * servers see the same verified identity (`getPeerCertificate`), and clients run the same
 * server identity check (role, cluster, address) on resumption as on a full handshake.
 */
import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { isIP, type Socket } from "node:net";
import { connect, type PeerCertificate, type SecureContext } from "node:tls";
import { Code, DcosError } from "../../runtime/error.js";

/** Most server addresses whose last session a client keeps. */
const MAX_SESSIONS = 4096;
/** How long a ticket stays valid (seconds): long enough to outlast a failover. */
export const DEFAULT_SESSION_TIMEOUT_S = 24 * 3600;

export interface ResumptionStats {
  /** Handshakes made by this client. */
  handshakes: number;
  /** Of them, resumed from a ticket. */
  resumed: number;
}

/** Channel credentials that remember each server's session ticket and offer it again. */
export class ResumingChannelCredentials extends grpc.ChannelCredentials {
  private readonly sessions = new Map<string, Buffer>();
  readonly stats: ResumptionStats = { handshakes: 0, resumed: 0 };

  constructor(
    private readonly context: SecureContext,
    private readonly checkServerIdentity: (hostname: string, cert: PeerCertificate) => Error | undefined,
    private readonly callCredentials?: grpc.CallCredentials,
  ) {
    super();
  }

  override _isSecure(): boolean {
    return true;
  }

  override _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }

  override _createSecureConnector(channelTarget: grpc.experimental.GrpcUri, _options: grpc.ChannelOptions, callCredentials?: grpc.CallCredentials): grpc.experimental.SecureConnector {
    const address = channelTarget.path;
    const host = grpc.experimental.splitHostPort(address)?.host ?? address;
    const credentials = callCredentials ?? this.callCredentials ?? grpc.CallCredentials.createEmpty();
    return {
      connect: (socket: Socket) =>
        new Promise((resolve, reject) => {
          const tlsSocket = connect(
            {
              socket,
              secureContext: this.context,
              host,
              ...(isIP(host) ? {} : { servername: host }),
              ALPNProtocols: ["h2"],
              checkServerIdentity: this.checkServerIdentity,
              session: this.sessions.get(address),
            },
            () => {
              this.stats.handshakes++;
              if (tlsSocket.isSessionReused()) this.stats.resumed++;
              if (!tlsSocket.authorized) return reject(tlsSocket.authorizationError);
              resolve({ socket: tlsSocket, secure: true });
            },
          );
          tlsSocket.on("session", (session: Buffer) => this.remember(address, session));
          tlsSocket.on("error", reject);
        }),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => credentials,
      destroy: () => undefined,
    };
  }

  /** The same TLS settings with no session kept yet (another client, e.g. a simulated agent). */
  fresh(): ResumingChannelCredentials {
    return new ResumingChannelCredentials(this.context, this.checkServerIdentity, this.callCredentials);
  }

  private remember(address: string, session: Buffer): void {
    this.sessions.delete(address);
    this.sessions.set(address, session);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
  }
}

/**
 * Server credentials that issue session tickets under `ticketKeys` (random when absent)
 * valid for `sessionTimeoutS`.
 */
export function withSessionTickets(credentials: grpc.ServerCredentials, ticketKeys: Buffer = randomBytes(48), sessionTimeoutS = DEFAULT_SESSION_TIMEOUT_S): grpc.ServerCredentials {
  const own = credentials._getConstructorOptions.bind(credentials);
  credentials._getConstructorOptions = () => ({ ...own(), ticketKeys, sessionTimeout: sessionTimeoutS });
  return credentials;
}

/** A ticket-keys file: 48 bytes, base64, readable by its owner only (shared by a cluster's masters). */
export async function loadTicketKeys(file: string): Promise<Buffer> {
  let text: string;
  try {
    if (((await stat(file)).mode & 0o077) !== 0) throw new DcosError(Code.INVALID_ARGUMENT, `TLS ticket keys file ${file} is readable by others; make it 0600`);
    text = await readFile(file, "utf8");
  } catch (err) {
    if (DcosError.is(err)) throw err;
    throw new DcosError(Code.INVALID_ARGUMENT, `Cannot read TLS ticket keys file ${file}: ${(err as Error).message}`);
  }
  const keys = Buffer.from(text.trim(), "base64");
  if (keys.length !== 48) throw new DcosError(Code.INVALID_ARGUMENT, `TLS ticket keys file ${file} must hold 48 bytes in base64, not ${keys.length}`);
  return keys;
}

/** A fresh ticket-keys file's content (`dcos-node certs ticket-keys`). */
export function newTicketKeys(): string {
  return randomBytes(48).toString("base64") + "\n";
}
