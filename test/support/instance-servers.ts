/**
 * HTTP servers that answer every request with their own instance id, standing in for an
 * app's instances in load balancer tests; and a bounded request loop that counts answers
 * and failures. Loopback only.
 */
import { createServer, request, type Server } from "node:http";

/**
 * The program of a task standing in for an app's instance (python3, run by the agent): an
 * HTTP server on $PORT0 answering every GET with its task id. With `lameDuckSeconds`, told
 * to stop (SIGTERM, the start of its kill grace period) it keeps serving that long, as
 * services behind a balancer do, then exits. Run it with `exec` so the signal reaches it.
 */
export function instanceProgram(o: { lameDuckSeconds?: number } = {}): string {
  const stop =
    o.lameDuckSeconds === undefined
      ? ""
      : `
def stop(*_):
    def later():
        time.sleep(${o.lameDuckSeconds})
        os._exit(0)
    threading.Thread(target=later, daemon=True).start()
signal.signal(signal.SIGTERM, stop)`;
  return `
import http.server, os, signal, threading, time
ID = os.environ["MESOS_TASK_ID"].encode()${stop}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(ID)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(ID)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT0"])), H).serve_forever()
`;
}

export interface Instance {
  id: string;
  port: number;
  close(): Promise<void>;
}

export async function startInstance(id: string): Promise<Instance> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain", connection: "close" });
    res.end(id);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    id,
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One GET on a new connection; resolves with the body, rejects on any failure or non-200. */
export function get(port: number, path = "/", headers: Record<string, string> = {}, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { connection: "close", ...headers }, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`))));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

export interface LoopResult {
  ok: number;
  failed: number;
  errors: string[];
  seen: Map<string, number>;
}

/**
 * Sends requests with `concurrency` in flight until `until()` is true or `maxRequests` were
 * sent (bounded either way); counts answers by body.
 */
export async function requestLoop(port: number, until: () => boolean, maxRequests: number, concurrency = 4, headers: Record<string, string> = {}): Promise<LoopResult> {
  const result: LoopResult = { ok: 0, failed: 0, errors: [], seen: new Map() };
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < maxRequests && !until()) {
      sent++;
      try {
        const body = await get(port, "/", headers);
        result.ok++;
        result.seen.set(body, (result.seen.get(body) ?? 0) + 1);
      } catch (err) {
        result.failed++;
        if (result.errors.length < 10) result.errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return result;
}
