import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ServicesApi, SseParser, type SseEvent } from "../../src/discovery/lb/services-api.js";
import { authorizationHeader } from "../../src/security/auth/client-credential.js";
import { testLogger } from "../../src/runtime/log.js";
import { ServicesFixture } from "../support/services-fixture.js";
import { waitFor } from "../support/wait.js";

describe("the load balancer's client of the services API", () => {
  it("parses Server-Sent Events split anywhere, with comments, CRLF and multi-line data", () => {
    const got: SseEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    const text = ': heartbeat\r\nevent: status_update_event\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: api_post_event\ndata: {}\n\ndata: plain\n\n';
    for (const ch of text) p.push(ch);
    assert.deepEqual(got, [
      { type: "status_update_event", data: '{"a":\n1}' },
      { type: "api_post_event", data: "{}" },
      { type: "message", data: "plain" },
    ]);
    const small = new SseParser(() => undefined, 64);
    assert.throws(() => small.push("data: " + "x".repeat(100)), /longer than 64 bytes/);
  });

  describe("against a services API that requires a credential", () => {
    const fixture = new ServicesFixture();
    const credential = { principal: "dcos-discovery", secret: "discovery-secret-1" };
    before(async () => {
      await fixture.start();
      fixture.authorization = authorizationHeader(credential);
      fixture.apps = [{ id: "/web", portDefinitions: [{ port: 10000 }], tasks: [] }];
    });
    after(() => fixture.stop());

    it("sends it on /v2/apps and /v2/events; without it the API refuses", async () => {
      const api = new ServicesApi({ urls: [fixture.url], logger: testLogger(), headers: { authorization: authorizationHeader(credential) } });
      assert.deepEqual((await api.apps()).map((a) => a.id), ["/web"]);
      const changes: string[] = [];
      api.follow((why) => changes.push(why));
      await waitFor(() => fixture.eventClients === 1, "the event stream to attach");
      fixture.set(fixture.apps, "health_status_changed_event");
      fixture.emit("deployment_info", {});
      fixture.emit("framework_message_event", {});
      await waitFor(() => changes.length >= 3, "the events");
      assert.deepEqual(changes, ["connected to the event stream", "health_status_changed_event", "deployment_info"]);
      api.stop();

      const anonymous = new ServicesApi({ urls: [fixture.url], logger: testLogger() });
      await assert.rejects(anonymous.apps(), /HTTP 401/);
      anonymous.follow(() => undefined);
      await waitFor(() => anonymous.failures > 0, "the anonymous event stream to be refused");
      assert.equal(anonymous.connections, 0);
      anonymous.stop();
    });
  });
});
