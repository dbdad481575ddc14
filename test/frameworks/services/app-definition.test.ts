import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { appSpec, canonicalId, InvalidApp, normalizeApp, onlyScaleDiffers } from "../../../src/frameworks/services/app-definition.js";

const EXAMPLES = fileURLToPath(new URL("../../../../deploy/examples/marathon/", import.meta.url));

function violations(raw: unknown): string[] {
  try {
    normalizeApp(raw);
  } catch (err) {
    assert.ok(err instanceof InvalidApp);
    return err.details.map((d) => `${d.path}: ${d.errors.join("; ")}`);
  }
  return [];
}

describe("Marathon app definitions", () => {
  it("fills Marathon's defaults and keeps unknown fields", () => {
    const app = normalizeApp({ id: "web", cmd: "serve", someFutureField: { a: 1 } });
    assert.equal(app["id"], "/web");
    assert.deepEqual(
      [app["cpus"], app["mem"], app["disk"], app["instances"], app["backoffSeconds"], app["backoffFactor"], app["maxLaunchDelaySeconds"], app["killSelection"], app["requirePorts"]],
      [1, 128, 0, 1, 1, 1.15, 300, "YOUNGEST_FIRST", false],
    );
    assert.deepEqual(app["upgradeStrategy"], { minimumHealthCapacity: 1, maximumOverCapacity: 1 });
    assert.deepEqual(app["unreachableStrategy"], { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 });
    assert.deepEqual(app["portDefinitions"], [{ port: 0, protocol: "tcp", name: "default", labels: {} }]);
    assert.deepEqual(app["someFutureField"], { a: 1 });
    const hc = normalizeApp({ id: "/h", cmd: "x", healthChecks: [{ protocol: "HTTP" }] })["healthChecks"] as Record<string, unknown>[];
    assert.deepEqual(hc[0], { protocol: "HTTP", portIndex: 0, path: "/", gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15 });
  });

  it("rejects invalid definitions with every problem and its path (422 body)", () => {
    assert.deepEqual(violations({ id: "/Bad_Id", cmd: "x" }), ["/id: 'Bad_Id' is not a valid path segment: use lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit"]);
    assert.deepEqual(violations({ id: "/a", cmd: "x", args: ["y"] }), ["/: AppDefinition must either contain one of 'cmd' or 'args', and not both"]);
    assert.deepEqual(violations({ id: "/a" }), ["/: AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'"]);
    assert.deepEqual(violations({ id: "/a", cmd: "x", cpus: -1, instances: 1.5 }), ["/cpus: cpus must be at least 0", "/instances: instances must be an integer"]);
    assert.deepEqual(violations({ id: "/a", cmd: "x", constraints: [["hostname", "SOMETIMES"]] }), ["/constraints(0): Constraint operator SOMETIMES is not one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS"]);
    assert.deepEqual(violations({ id: "/a", cmd: "x", constraints: [["rack", "LIKE", "("]] }), ["/constraints(0): '(' is not a valid regular expression"]);
    assert.deepEqual(violations({ id: "/a", cmd: "x", upgradeStrategy: { minimumHealthCapacity: 2 } }), ["/upgradeStrategy/minimumHealthCapacity: minimumHealthCapacity must be a number between 0 and 1"]);
    assert.deepEqual(violations({ id: "/a", cmd: "x", unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 10 } }), ["/unreachableStrategy/expungeAfterSeconds: expungeAfterSeconds must be a number >= inactiveAfterSeconds"]);
    assert.deepEqual(violations({ id: "/a", cmd: "x", healthChecks: [{ protocol: "COMMAND" }] }), ["/healthChecks(0)/command: a COMMAND health check needs command.value"]);
    assert.deepEqual(violations([1, 2]), ["/: An app definition must be a JSON object"]);
    assert.match(violations({ id: "/a", cmd: "x".repeat(600_000) })[0]!, /at most 524288 bytes/);
  });

  it("ids are absolute paths; relative dependencies resolve against the app's group", () => {
    assert.equal(canonicalId("a/b/../c"), "/a/c");
    assert.equal(canonicalId("../x", "/g/h"), "/g/x");
    assert.deepEqual(normalizeApp({ id: "/shop/web/ui", cmd: "x", dependencies: ["../backend", "/db"] })["dependencies"], ["/shop/backend", "/db"]);
  });

  it("tells a scale from a configuration change", () => {
    const a = normalizeApp({ id: "/a", cmd: "x", instances: 1, labels: { k: "v" } });
    assert.ok(onlyScaleDiffers(a, { ...a, instances: 5, version: "later" }));
    assert.ok(!onlyScaleDiffers(a, { ...a, labels: { k: "w" } }));
  });

  it("reads realistic Marathon JSON files unchanged: Docker bridge ports, constraints, health checks", async () => {
    const docker = appSpec(normalizeApp(JSON.parse(await readFile(`${EXAMPLES}docker-nginx.json`, "utf8"))));
    assert.equal(docker.docker?.image, "nginx:1.25-alpine");
    assert.equal(docker.docker?.network, "BRIDGE");
    assert.deepEqual(docker.ports, [{ port: 0, servicePort: 10080, name: "http", protocol: "tcp", containerPort: 80 }]);
    assert.equal(docker.minimumHealthCapacity, 0.5);
    assert.equal(docker.taskKillGracePeriodSeconds, 10);
    const cmd = appSpec(normalizeApp(JSON.parse(await readFile(`${EXAMPLES}cmd-with-constraints.json`, "utf8"))));
    assert.deepEqual(cmd.constraints, [["hostname", "UNIQUE"], ["rack", "LIKE", "rack-[0-9]+"]]);
    assert.equal(cmd.healthChecks[0]?.intervalSeconds, 2);
  });
});
