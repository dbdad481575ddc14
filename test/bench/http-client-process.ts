/**
 * An HTTP client in its own process for the http/state benchmark: the server's process
 * (the master, its HTTP endpoint) then pays nothing for receiving the response, and its
 * event-loop stalls are its own. Asked over IPC: {id, url, gzip}; answers {id, ttfbMs,
 * totalMs, bytes} (time to the response head and to the last byte, the raw body's size:
 * nothing is decoded) or {id, error}. Exits when its parent disconnects.
 */
import { request } from "node:http";

interface Ask {
  id: number;
  url: string;
  gzip: boolean;
}

process.on("message", (m: Ask) => {
  const t0 = performance.now();
  const req = request(m.url, { agent: false, headers: m.gzip ? { "accept-encoding": "gzip" } : {} }, (res) => {
    const ttfbMs = performance.now() - t0;
    let bytes = 0;
    res.on("data", (c: Buffer) => (bytes += c.length));
    res.on("end", () => process.send!({ id: m.id, ttfbMs, totalMs: performance.now() - t0, bytes }));
    res.on("error", (e) => process.send!({ id: m.id, error: String(e) }));
  });
  req.on("error", (e) => process.send!({ id: m.id, error: String(e) }));
  req.end();
});
process.on("disconnect", () => process.exit(0));
