import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Acls, EVERY } from "../../src/security/auth/acls.js";
import { Authenticator } from "../../src/security/auth/authenticator.js";
import { CredentialStore, parseCredentials } from "../../src/security/auth/credentials.js";
import { authorizationHeader, parseClientCredential } from "../../src/security/auth/client-credential.js";
import { Code, DcosError } from "../../src/runtime/error.js";

describe("ACLs (Mesos's JSON shape)", () => {
  const acls = Acls.parse({
    permissive: true,
    register_frameworks: [
      { principals: { values: ["bob"] }, roles: { values: ["prod"] } },
      { principals: { type: "NONE" }, roles: { values: ["prod"] } },
    ],
    view_frameworks: [{ principals: { values: ["ops"] }, users: { type: "ANY" } }, { principals: { type: "ANY" }, users: { type: "NONE" } }],
  });

  it("the first matching rule decides; NONE refuses; no match falls back to permissive", () => {
    assert.equal(acls.allows("register_frameworks", "bob", "prod"), true);
    assert.equal(acls.allows("register_frameworks", "alice", "prod"), false);
    assert.equal(acls.allows("register_frameworks", undefined, "prod"), false);
    assert.equal(acls.allows("register_frameworks", "alice", "dev"), true, "permissive");
    assert.equal(acls.allows("view_frameworks", "ops", EVERY), true);
    assert.equal(acls.allows("view_frameworks", "alice", EVERY), false);
    assert.equal(acls.allows("access_replicated_logs", "alice", "bob"), false, "not opened by permissive");
    assert.equal(Acls.parse({ permissive: false }).allows("update_weights", "ops", "r"), false);
  });

  it("a values rule never matches every object or an anonymous caller", () => {
    const a = Acls.parse({ permissive: false, view_frameworks: [{ principals: { type: "ANY" }, users: { values: ["nobody"] } }] });
    assert.equal(a.allows("view_frameworks", "x", EVERY), false);
    assert.equal(a.allows("view_frameworks", undefined, "nobody"), true);
    const b = Acls.parse({ permissive: false, view_frameworks: [{ principals: { values: ["x"] }, users: { type: "ANY" } }] });
    assert.equal(b.allows("view_frameworks", undefined, "nobody"), false);
  });

  it("app actions match app ids by path prefix, a component at a time; '/' is every app", () => {
    const a = Acls.parse({
      permissive: false,
      view_apps: [{ principals: { values: ["alice"] }, app_ids: { values: ["/team-a/"] } }, { principals: { values: ["admin"] }, app_ids: { values: ["/"] } }],
    });
    assert.equal(a.allows("view_apps", "alice", "/team-a"), true);
    assert.equal(a.allows("view_apps", "alice", "/team-a/web/db"), true);
    assert.equal(a.allows("view_apps", "alice", "/team-ab"), false, "not a path prefix");
    assert.equal(a.allows("view_apps", "alice", "/"), false);
    assert.equal(a.allows("view_apps", "alice", EVERY), false);
    assert.equal(a.allows("view_apps", "admin", "/any/app"), true);
    assert.equal(a.allows("view_apps", "admin", EVERY), true, "'/' covers every app");
    assert.equal(a.allows("update_apps", "alice", "/team-a/web"), false, "each action has its own rules");
    assert.throws(() => Acls.parse({ create_apps: [{ principals: { type: "ANY" }, app_ids: { values: ["team-a"] } }] }), /'team-a' is not an absolute path/);
  });

  it("mount_host_paths matches host paths by prefix, a component at a time", () => {
    const a = Acls.parse({ mount_host_paths: [{ principals: { values: ["web"] }, host_paths: { values: ["/srv/web/"] } }, { principals: { type: "ANY" }, host_paths: { type: "NONE" } }] });
    assert.equal(a.allows("mount_host_paths", "web", "/srv/web/logs"), true);
    assert.equal(a.allows("mount_host_paths", "web", "/srv/website"), false, "not a path prefix");
    assert.equal(a.allows("mount_host_paths", "other", "/srv/web"), false);
    assert.equal(a.allows("mount_host_paths", "web", "srv/web"), false, "a relative path is under no named path (and the check ends)");
    assert.equal(Acls.parse({ view_apps: [{ principals: { type: "ANY" }, app_ids: { values: ["/a"] } }] }).ruleDecision("view_apps", "x", "a"), undefined);
    assert.equal(Acls.permissive().allows("mount_host_paths", undefined, "/data"), true, "permissive by default, as the other actions");
    assert.throws(() => Acls.parse({ mount_host_paths: [{ principals: { type: "ANY" }, host_paths: { values: ["srv"] } }] }), /'srv' is not an absolute path \(host paths are absolute\)/);
  });

  it("refuses unknown actions, keys and entity types with the place named", () => {
    assert.throws(() => Acls.parse({ register_framework: [] }), /unknown action "register_framework"/);
    assert.throws(() => Acls.parse({ run_tasks: [{ principals: { type: "ANY" }, roles: { type: "ANY" } }] }), /run_tasks #1 has unknown key "roles" \(expected "principals" and "users"\)/);
    assert.throws(() => Acls.parse({ run_tasks: [{ principals: { type: "SOME" }, users: { type: "ANY" } }] }), /principals.type must be "ANY" or "NONE"/);
    assert.throws(() => Acls.fromText("{"), /not valid JSON/);
  });
});

describe("Credentials", () => {
  it("parses Mesos's JSON and text shapes and refuses duplicates, short or shared secrets", () => {
    assert.deepEqual(parseCredentials('{"credentials":[{"principal":"a","secret":"secret-a1"}]}'), [{ principal: "a", secret: "secret-a1" }]);
    assert.deepEqual(parseCredentials("a secret-a1\n# comment\nb secret-b1\n"), [
      { principal: "a", secret: "secret-a1" },
      { principal: "b", secret: "secret-b1" },
    ]);
    assert.throws(() => parseCredentials("a secret-a1\na secret-a2"), /principal 'a' appears twice/);
    assert.throws(() => parseCredentials("a short"), /must have 8 to 4096 characters/);
    assert.throws(() => parseCredentials("a secret-xx\nb secret-xx"), /share a secret/);
    assert.throws(() => parseCredentials("a/b secret-xx"), /invalid principal/);
    assert.deepEqual(parseClientCredential('{"principal":"a","secret":"secret-a1"}', "f"), { principal: "a", secret: "secret-a1" });
  });

  it("authenticates Basic and Bearer headers; a wrong header is refused, never anonymous", () => {
    const credentials = new CredentialStore(parseCredentials("alice secret-alice\nbob secret-bob1"));
    const required = new Authenticator({ credentials, required: true });
    assert.equal(required.authenticate(authorizationHeader({ principal: "alice", secret: "secret-alice" })).principal, "alice");
    assert.equal(required.authenticate("Bearer secret-bob1").principal, "bob");
    const unauthenticated = (f: () => unknown, pattern: RegExp) =>
      assert.throws(f, (e: unknown) => DcosError.is(e, Code.UNAUTHENTICATED) && pattern.test((e as Error).message));
    unauthenticated(() => required.authenticate(authorizationHeader({ principal: "alice", secret: "secret-bob1" })), /Invalid credentials for principal 'alice'/);
    unauthenticated(() => required.authenticate("Bearer nope"), /Invalid bearer token/);
    unauthenticated(() => required.authenticate("Digest x"), /Unsupported authorization scheme 'digest'/);
    unauthenticated(() => required.authenticate(undefined), /Authentication required/);
    const optional = new Authenticator({ credentials, required: false });
    assert.equal(optional.authenticate(undefined).authenticated, false);
    assert.equal(optional.isProtected("alice"), true);
    assert.equal(optional.isProtected("someone-else"), false);
    unauthenticated(() => optional.authenticate("Bearer nope"), /Invalid bearer token/);
    const byCert = new Authenticator({ required: true, peerIdentity: { principalOf: () => "agent-7" } });
    assert.deepEqual(byCert.authenticate(undefined), { authenticated: true, principal: "agent-7", by: "certificate" });
  });
});
