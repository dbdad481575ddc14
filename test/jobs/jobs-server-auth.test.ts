/**
 * The jobs API's door, as the masters' HTTP endpoints have it: with credentials required,
 * an anonymous or wrongly authenticated call is 401 JSON with WWW-Authenticate (before
 * any proxying to a leader), a good one goes through; CORS preflights need no credentials.
 * (A master that cannot be reached keeps the instance from leading: the call that passed
 * the door gets 503 saying there is no leader.)
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { JobsServer } from "../../src/frameworks/jobs/jobs-server.js";
import { freePort } from "../support/master-processes.js";
import { LocalLogs } from "../support/local-log-store.js";

describe("jobs API authentication", () => {
  let server: JobsServer | undefined;
  after(async () => server?.stop());

  it("refuses anonymous and wrong credentials with 401, lets the principal through, answers preflights", async () => {
    const nobody = `127.0.0.1:${await freePort()}`;
    server = await JobsServer.start({
      masters: [nobody],
      httpPort: 0,
      store: new LocalLogs().view(),
      security: { credentials: [{ principal: "ops", secret: "ops-secret-123" }], authenticate: true },
    });
    const url = `http://${server.address}/v1/scheduler/jobs`;
    const anonymous = await fetch(url);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Basic realm=/);
    assert.equal(((await anonymous.json()) as { error: string }).error, "UNAUTHENTICATED");
    const wrong = await fetch(url, { headers: { authorization: `Basic ${Buffer.from("ops:nope-nope-nope").toString("base64")}` } });
    assert.equal(wrong.status, 401);
    const good = await fetch(url, { headers: { authorization: `Basic ${Buffer.from("ops:ops-secret-123").toString("base64")}` } });
    assert.equal(good.status, 503, "past the door: no jobs leader (no master to subscribe to)");
    assert.match(((await good.json()) as { message: string }).message, /leader/i);
    const bearer = await fetch(url, { headers: { authorization: "Bearer ops-secret-123" } });
    assert.equal(bearer.status, 503);
    const preflight = await fetch(url, { method: "OPTIONS", headers: { origin: "http://127.0.0.1:5080", "access-control-request-method": "PUT" } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  });
});
