/**
 * The thin CLI's HTTP/1.1 client (src/cli/thin-http.ts) against node:http servers on an
 * ephemeral loopback port: chunked bodies cut anywhere (a multi-byte character split
 * across chunks), Content-Length bodies, bodies delimited by the close, the request it
 * sends, and a connection that closes early or is refused.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { thinRequest } from "../../src/cli/thin-http.js";

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ server: Server; url: URL }> {
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => handler(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/runs?x=1`) };
}

function fetchThin(url: URL, body?: string): Promise<{ status: number; headers: Record<string, string>; text: string; error?: string }> {
  return new Promise((resolve) => {
    let status = 0;
    let headers: Record<string, string> = {};
    let text = "";
    void thinRequest(url, { method: "POST", headers: { "content-type": "application/json", authorization: "Basic eDp5" }, ...(body !== undefined ? { body } : {}) }, {
      head: (s, h) => ((status = s), (headers = h)),
      data: (t) => (text += t),
      end: () => resolve({ status, headers, text }),
      error: (err) => resolve({ status, headers, text, error: err.message }),
    }).catch((err: Error) => resolve({ status, headers, text, error: err.message }));
  });
}

describe("thin-http", () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  it("reads a chunked stream cut anywhere, multi-byte characters included, and sends the request as given", async () => {
    let seen: { method?: string; url?: string; headers?: Record<string, unknown>; body?: string } = {};
    const text = `{"event":"stdout","data":"héllo → wörld 🚀"}\n`.repeat(20);
    const bytes = Buffer.from(text);
    const { server, url } = await serve((req, res, body) => {
      seen = { method: req.method, url: req.url, headers: req.headers, body };
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      // Chunks of 1, 2, 3, … bytes: every cut, inside characters too.
      let at = 0;
      let n = 1;
      const next = (): void => {
        if (at >= bytes.length) return void res.end();
        res.write(bytes.subarray(at, at + n));
        at += n++;
        setImmediate(next);
      };
      next();
    });
    servers.push(server);
    const r = await fetchThin(url, '{"command":"true"}');
    assert.equal(r.error, undefined);
    assert.equal(r.status, 200);
    assert.equal(r.headers["transfer-encoding"], "chunked");
    assert.equal(r.text, text);
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/v1/runs?x=1");
    assert.equal(seen.body, '{"command":"true"}');
    assert.equal(seen.headers?.authorization, "Basic eDp5");
    assert.equal(seen.headers?.["content-length"], String(Buffer.byteLength('{"command":"true"}')));
  });

  it("reads Content-Length bodies and bodies that end with the connection", async () => {
    const { server, url } = await serve((_req, res) => {
      res.writeHead(400, { "content-type": "application/json", "content-length": "21" });
      res.end('{"message":"bad one"}');
    });
    servers.push(server);
    assert.deepEqual((await fetchThin(url)).text, '{"message":"bad one"}');
    // No length, no chunking: the close ends the body (a raw server, as node:http always frames).
    const raw = createNetServer((socket) => socket.once("data", () => socket.end("HTTP/1.1 201 Created\r\nconnection: close\r\n\r\nuntil the end")));
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    const closing = { url: new URL(`http://127.0.0.1:${(raw.address() as AddressInfo).port}/`) };
    after(() => raw.close());
    const r = await fetchThin(closing.url);
    assert.equal(r.status, 201);
    assert.equal(r.text, "until the end");
  });

  it("reports a stream cut before its end, and a refused connection", async () => {
    const { server, url } = await serve((_req, res) => {
      res.writeHead(200);
      res.write("partial");
      setImmediate(() => res.socket?.destroy());
    });
    servers.push(server);
    const r = await fetchThin(url);
    assert.equal(r.status, 200);
    assert.equal(r.text, "partial");
    assert.match(r.error ?? "", /closed before the response ended/);
    const port = (server.address() as AddressInfo).port;
    server.close();
    servers.pop();
    await new Promise((resolve) => setImmediate(resolve));
    const refused = await fetchThin(new URL(`http://127.0.0.1:${port}/`));
    assert.match(refused.error ?? "", /ECONNREFUSED/);
  });
});
