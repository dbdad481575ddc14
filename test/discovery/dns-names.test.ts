import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { appIdOfTask, normalizeDomain, reversedAppName, sanitizeLabel, shortHash } from "../../src/discovery/dns/names.js";

describe("DNS names as Mesos-DNS made them (RFC 952 labels)", () => {
  it("lowercases, turns dots, underscores and spaces into hyphens and drops other characters", () => {
    assert.equal(sanitizeLabel("My_Web.Server"), "my-web-server");
    assert.equal(sanitizeLabel("nginx (blue)!"), "nginx-blue");
    assert.equal(sanitizeLabel("Ünïcode-app"), "ncode-app");
  });

  it("starts with a letter and ends with a letter or digit", () => {
    assert.equal(sanitizeLabel("42-answer"), "answer");
    assert.equal(sanitizeLabel("-web-"), "web");
    assert.equal(sanitizeLabel("123"), "");
    assert.equal(sanitizeLabel("..."), "");
  });

  it("keeps at most 63 characters and never ends on the cut with a hyphen", () => {
    const long = "a".repeat(62) + "-b" + "c".repeat(10);
    const label = sanitizeLabel(long);
    assert.equal(label, "a".repeat(62));
    assert.ok(sanitizeLabel("x".repeat(100)).length === 63);
  });

  it("reverses a services app id into dot-separated labels", () => {
    assert.equal(reversedAppName("/shop/web"), "web.shop");
    assert.equal(reversedAppName("/web"), "web");
    assert.equal(reversedAppName("/Team_A/api.v2"), "api-v2.team-a");
    assert.equal(reversedAppName("/"), "");
    assert.equal(reversedAppName("/shop/123"), "", "a segment with nothing usable gives no name");
  });

  it("finds the app id in the MARATHON_APP_ID label or a Marathon-format task id", () => {
    assert.equal(appIdOfTask("anything", new Map([["MARATHON_APP_ID", "/shop/web"]])), "/shop/web");
    assert.equal(appIdOfTask("x", new Map([["MARATHON_APP_ID", "shop/web"]])), "/shop/web");
    assert.equal(appIdOfTask("shop_web.6f1c2a3b-1234-4abc-9def-0123456789ab", new Map()), "/shop/web");
    assert.equal(appIdOfTask("shop_web.instance-6f1c2a3b-1234-4abc-9def-0123456789ab._app.1", new Map()), "/shop/web");
    assert.equal(appIdOfTask("api.v2.6f1c2a3b-1234-4abc-9def-0123456789ab", new Map()), "/api.v2");
    assert.equal(appIdOfTask("hello-1", new Map()), undefined);
  });

  it("normalizes the domain and rejects a bad one", () => {
    assert.equal(normalizeDomain("DCOS."), "dcos");
    assert.equal(normalizeDomain("cluster.example"), "cluster.example");
    assert.throws(() => normalizeDomain("bad_domain"), /Invalid DNS domain 'bad_domain'/);
    assert.throws(() => normalizeDomain(""), /Invalid DNS domain/);
  });

  it("tags task ids with a short stable hash", () => {
    assert.equal(shortHash("a"), shortHash("a"));
    assert.notEqual(shortHash("web.1"), shortHash("web.2"));
    assert.match(shortHash("web.1"), /^[0-9a-z]{7}$/);
  });
});
