/**
 * The serialized app views GET /v2/apps answers from (app-view-cache.ts) always equal a
 * view built afresh from the state: after launches, status and health changes, scheduler
 * check results, a failure, a scale, a restart, a kill and a removal (manual clock).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Prober } from "../../../src/frameworks/services/instance-checks.js";
import { TaskState } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { web, World } from "../../support/services-world.js";

const up: Prober = { http: async () => ({ status: 200, contentType: "text/plain", body: "ok" }), tcp: async () => undefined };

describe("app view cache", () => {
  it("GET /v2/apps (every embed) equals the views built afresh, step after step", async () => {
    const w = new World({ prober: up });
    const embeds = ["", "?embed=apps.tasks", "?embed=apps.tasks&embed=apps.lastTaskFailure&embed=apps.readiness&embed=apps.deployments"];
    const check = async (step: string) => {
      for (const q of embeds) {
        const cached = (await w.api("GET", `/v2/apps${q}`)).body;
        const embed = {
          tasks: q.includes("tasks"),
          counts: true,
          deployments: q.includes("deployments"),
          lastTaskFailure: q.includes("lastTaskFailure"),
          readiness: q.includes("readiness"),
        };
        const fresh = JSON.parse(JSON.stringify({ apps: [...w.s.state.apps.values()].map((a) => w.s.appView(a, embed)) }));
        assert.deepEqual(cached, fresh, `${step}: GET /v2/apps${q}`);
      }
    };
    try {
      await w.lead("a");
      await check("empty");
      await w.api("POST", "/v2/apps", web({ instances: 2 }));
      await w.api("POST", "/v2/apps", { id: "/two", cmd: "x", instances: 1, ports: [0, 0], healthChecks: [{ protocol: "MESOS_TCP" }, { protocol: "HTTP", portIndex: 1, intervalSeconds: 2, timeoutSeconds: 1 }] });
      await check("posted");
      await w.clock.advance(1000);
      await w.offers("h1");
      await check("launched");
      await w.runAll(false);
      await check("running, unhealthy");
      await w.runAll();
      for (const i of w.live("/web")) await w.status(i.id, TaskState.RUNNING, { healthy: true });
      await w.clock.advance(3000);
      await check("healthy, checks probed, deployments done");
      await w.status(w.live("/web")[0]!.id, TaskState.FAILED, { message: "exit 1" });
      await check("a failure");
      await w.api("PUT", "/v2/apps/web?force=true", { instances: 3 });
      await check("scaled");
      await w.api("POST", "/v2/apps/two/restart?force=true");
      await w.clock.advance(1000);
      await w.offers("h2");
      await check("restarting");
      await w.api("DELETE", `/v2/apps/web/tasks/${w.live("/web")[0]!.id}`);
      await check("a kill");
      await w.api("DELETE", "/v2/apps/two?force=true");
      await w.clock.advance(1000);
      await w.killAcked();
      await w.clock.advance(1000);
      await check("removed");
    } finally {
      await w.close();
    }
  });
});
