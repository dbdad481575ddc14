/**
 * The least HTTP/1.1 client the thin `dcos-node run` needs (run-thin.ts): one request per
 * connection (`Connection: close`), a response with Content-Length, chunked or until close,
 * over node:net or node:tls. Not node:http: on Node 22 and 24 loading node:http alone
 * costs about 50 ms of CPU (6 ms on Node 20), node:net about 5 ms.
 */
import { connect as netConnect, isIP, type Socket } from "node:net";

export interface ThinTls {
  ca?: string;
  cert?: string;
  key?: string;
  /** Keep and offer TLS session tickets here (tls-session-cache.ts); none: every connection makes a full handshake. */
  sessionDir?: string;
}

export interface ThinRequest {
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
  /** For https: URLs. */
  tls?: ThinTls;
  /** https: the handshake is done (resumed: from a cached session ticket). */
  secured?(resumed: boolean): void;
}

export interface ThinResponseHandler {
  /** The status line and headers (names lowercased) arrived. */
  head(status: number, headers: Record<string, string>): void;
  /** Body text as it arrives (UTF-8 decoded across chunk boundaries). */
  data(text: string): void;
  /** The body is complete. */
  end(): void;
  /** The connection failed; `answered` tells whether a head had arrived. */
  error(err: Error, answered: boolean): void;
}

/** Longest status line plus headers accepted. */
const MAX_HEAD = 64 * 1024;

/** Sends the request; the returned function closes the connection at once. */
export async function thinRequest(url: URL, request: ThinRequest, on: ThinResponseHandler): Promise<() => void> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  let socket: Socket;
  if (url.protocol === "https:") {
    const t = request.tls ?? {};
    // process.getBuiltinModule (Node 20.16+, 22.3+) loads node:tls without the ES module loader that a
    // dynamic import() starts in the CommonJS bundle (dist/cli/dcos-node.cjs).
    const [tls, cache] = await Promise.all([process.getBuiltinModule?.("node:tls") ?? import("node:tls"), t.sessionDir === undefined ? undefined : import("./tls-session-cache.js")]);
    const sessions = cache?.tlsSessionCache({ origin: `${host}:${port}`, ...t }, t.sessionDir);
    const session = sessions?.load();
    const secure = tls.connect({
      host,
      port,
      ...(isIP(host) ? {} : { servername: host }),
      ...(t.ca ? { ca: t.ca } : {}),
      ...(t.cert && t.key ? { cert: t.cert, key: t.key } : {}),
      ...(session ? { session } : {}),
    });
    if (sessions) secure.on("session", (ticket: Buffer) => sessions.save(ticket));
    secure.once("secureConnect", () => request.secured?.(secure.isSessionReused()));
    socket = secure;
  } else {
    socket = netConnect({ host, port });
  }
  const body = request.body ?? "";
  const lines = [`${request.method} ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, "connection: close", `content-length: ${Buffer.byteLength(body)}`];
  for (const [k, v] of Object.entries(request.headers)) lines.push(`${k}: ${v}`);
  socket.write(`${lines.join("\r\n")}\r\n\r\n${body}`);
  new ResponseReader(socket, on);
  return () => socket.destroy();
}

class ResponseReader {
  private buffer: Buffer = Buffer.alloc(0);
  private answered = false;
  private finished = false;
  private mode: "head" | "length" | "chunked" | "close" = "head";
  private left = 0;
  /** Chunked: waiting for a size line (-1), or bytes left of the chunk plus its CRLF. */
  private chunkLeft = -1;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly socket: Socket,
    private readonly on: ThinResponseHandler,
  ) {
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("end", () => this.closed());
    socket.on("close", () => this.closed());
    socket.on("error", (err) => this.fail(err));
  }

  private fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.socket.destroy();
    this.on.error(err, this.answered);
  }

  private closed(): void {
    if (this.finished) return;
    if (this.mode === "close") return this.done();
    this.fail(new Error(this.answered ? "the connection closed before the response ended" : "the connection closed without a response"));
  }

  private done(): void {
    if (this.finished) return;
    this.finished = true;
    const rest = this.decoder.decode();
    if (rest) this.on.data(rest);
    this.socket.destroy();
    this.on.end();
  }

  private text(bytes: Buffer): void {
    const s = this.decoder.decode(bytes, { stream: true });
    if (s) this.on.data(s);
  }

  private read(chunk: Buffer): void {
    if (this.finished) return;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    try {
      if (this.mode === "head" && !this.head()) return;
      this.body();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Parses the head once it is all here; false while waiting for more. */
  private head(): boolean {
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0) {
      if (this.buffer.length > MAX_HEAD) throw new Error("the response's headers are too long");
      return false;
    }
    const [statusLine, ...headerLines] = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "");
    if (!m) throw new Error(`not an HTTP response: ${(statusLine ?? "").slice(0, 80)}`);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    this.buffer = this.buffer.subarray(end + 4);
    if (/chunked/i.test(headers["transfer-encoding"] ?? "")) this.mode = "chunked";
    else if (headers["content-length"] !== undefined) {
      this.mode = "length";
      this.left = Number(headers["content-length"]);
    } else this.mode = "close";
    this.answered = true;
    this.on.head(Number(m[1]), headers);
    return true;
  }

  private body(): void {
    if (this.mode === "close") {
      this.text(this.buffer);
      this.buffer = Buffer.alloc(0);
    } else if (this.mode === "length") {
      const take = this.buffer.subarray(0, this.left);
      this.left -= take.length;
      this.buffer = this.buffer.subarray(take.length);
      this.text(take);
      if (this.left <= 0) this.done();
    } else {
      while (!this.finished) {
        if (this.chunkLeft < 0) {
          const eol = this.buffer.indexOf("\r\n");
          if (eol < 0) return;
          const size = parseInt(this.buffer.subarray(0, eol).toString("latin1"), 16);
          if (!Number.isFinite(size) || size < 0) throw new Error("a malformed chunk size");
          this.buffer = this.buffer.subarray(eol + 2);
          if (size === 0) return this.done();
          this.chunkLeft = size + 2;
        }
        if (this.buffer.length === 0) return;
        const take = this.buffer.subarray(0, this.chunkLeft);
        this.chunkLeft -= take.length;
        this.buffer = this.buffer.subarray(take.length);
        // The chunk's data, without its trailing CRLF (the last two bytes of chunkLeft).
        const dataEnd = Math.max(0, take.length - Math.max(0, 2 - this.chunkLeft));
        this.text(take.subarray(0, dataEnd));
        if (this.chunkLeft === 0) this.chunkLeft = -1;
      }
    }
  }
}
