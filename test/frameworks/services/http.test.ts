import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ServicesServer } from "../../../src/frameworks/services/services-server.js";
import { LocalLogs } from "../../support/local-log-store.js";

describe("services HTTP edge (no master: the instance cannot lead)", () => {
  it("with --credentials: 401 without or with wrong credentials, served with Basic; CORS preflight answers without credentials; 503 while no instance leads", async () => {
    const security = { credentials: [{ principal: "ops", secret: "s3cret-value" }] };
    // Masters that do not exist: the lease is taken (in memory) but the driver never subscribes.
    const s = await ServicesServer.start({ masters: ["127.0.0.1:1"], httpPort: 0, store: new LocalLogs().view(), security, leaseTtlMs: 1000 });
    try {
      const url = `http://${s.address}`;
      const anon = await fetch(`${url}/v2/apps`);
      assert.equal(anon.status, 401);
      assert.match(((await anon.json()) as { message: string }).message, /Authentication required/);
      const wrong = await fetch(`${url}/v2/apps`, { headers: { authorization: `Basic ${Buffer.from("ops:nope-nope").toString("base64")}` } });
      assert.equal(wrong.status, 401);
      const ok = await fetch(`${url}/v2/apps`, { headers: { authorization: `Basic ${Buffer.from("ops:s3cret-value").toString("base64")}` } });
      assert.equal(ok.status, 503, "authenticated, but no instance leads (the driver cannot subscribe)");
      const pre = await fetch(`${url}/v2/apps`, { method: "OPTIONS" });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), "*");
      const info = await fetch(`${url}/v2/info`, { headers: { authorization: "Bearer s3cret-value" } });
      assert.equal(info.status, 200);
      assert.equal(((await info.json()) as { elected: boolean }).elected, false);
    } finally {
      await s.stop();
    }
  });
});
