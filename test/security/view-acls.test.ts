/**
 * ACLs view_frameworks, view_tasks, view_executors and teardown_frameworks, with two
 * principals (alice and bob, each a framework of its own user) and an operator (ops):
 * the Operator API's GET_STATE/GET_FRAMEWORKS/GET_TASKS/GET_EXECUTORS and SUBSCRIBE, and
 * the HTTP /state, /state-summary, /frameworks, /tasks and /events show each principal
 * only what runs as users it may see; the operator TEARDOWN call and POST /teardown are
 * checked on the framework's principal; /files checks access_sandboxes on the user of the
 * sandbox's framework.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { ClusterEvent, GetExecutorsResponse, GetFrameworksResponse, GetStateResponse, GetTasksResponse, OperatorServiceSubscribeResponse } from "../../src/gen/dcos/v1/operator_pb.js";
import { AcceptRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { startMasterHttp, type RunningMasterHttp } from "../../src/operator/master-http.js";
import { authorizationHeader } from "../../src/security/auth/client-credential.js";
import { Acls } from "../../src/security/auth/acls.js";
import { serviceSecurity } from "../../src/security/auth/security-config.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { addSandboxFileRoutes } from "../../src/operator/agent-http.js";
import { createHttpServer } from "../../src/operator/http-server.js";
import { serverStream, unary } from "../support/grpc-loopback.js";
import { call, CREDENTIALS, services, startSecuredMaster, subscribeAs, subscribedOf, until, type SecuredMaster, type Stream, type Who } from "./secured-master.js";

let m: SecuredMaster | undefined;
let http: RunningMasterHttp | undefined;
afterEach(async () => {
  await http?.close();
  await m?.stop();
  m = http = undefined;
});

/** Each of alice and bob sees what runs as its own user; ops sees everything; teardown is ops's. */
const OWN = [
  { principals: { values: ["ops"] }, users: { type: "ANY" } },
  { principals: { values: ["alice"] }, users: { values: ["alice"] } },
  { principals: { values: ["bob"] }, users: { values: ["bob"] } },
  { principals: { type: "ANY" }, users: { type: "NONE" } },
];

const ACLS = {
  permissive: true,
  view_frameworks: OWN,
  view_tasks: OWN,
  view_executors: OWN,
  teardown_frameworks: [
    { principals: { values: ["ops"] }, framework_principals: { type: "ANY" } },
    { principals: { type: "ANY" }, framework_principals: { type: "NONE" } },
  ],
};

interface Running {
  stream: Stream;
  frameworkId: string;
}

/** Subscribes `who` with user `who`, waits for an offer and launches one task there (with a custom executor). */
async function frameworkWithTask(mm: SecuredMaster, who: Who): Promise<Running> {
  const client = mm.client(services.scheduler, who);
  const stream = subscribeAs(mm, client, { name: `${who}-fw`, user: who });
  const { frameworkId, streamId } = await subscribedOf(mm, stream);
  const offers = await until(mm, `an offer for ${who}`, async () => {
    const e = stream.events.find((x) => x.kind.case === "offers");
    if (!e) await mm.cluster.allocate();
    return e;
  });
  const offer = (offers!.kind.value as { offers: { id: { value: string } }[] }).offers[0]!;
  const cpus = (v: number) => [{ name: "cpus", type: Value_Type.SCALAR, scalar: { value: v } }];
  await unary(
    client,
    "accept",
    create(AcceptRequestSchema, {
      frameworkId: { value: frameworkId },
      streamId,
      offerIds: [{ value: offer.id.value }],
      operations: [
        {
          kind: {
            case: "launch",
            value: {
              taskInfos: [
                {
                  name: `${who}-task`,
                  taskId: { value: `${who}-task` },
                  resources: cpus(0.5),
                  executor: { type: 2, executorId: { value: `${who}-executor` }, command: { value: "run-executor" }, resources: cpus(0.1) },
                },
              ],
            },
          },
        },
      ],
    }),
  );
  await until(mm, `${who}'s task staged`, async () => {
    const error = stream.events.find((e) => e.kind.case === "update");
    if (error) throw new Error(`${who}'s task: ${JSON.stringify((error.kind.value as { status: { message: string } }).status.message)}`);
    return mm.cluster.facade.inspect((core) => core.frameworks.get(frameworkId)?.tasks.has(`${who}-task`) || undefined);
  });
  return { stream, frameworkId };
}

/** The secured master with its HTTP endpoint, and a framework with a task for each of alice and bob. */
async function twoFrameworksWithHttp() {
  m = await startSecuredMaster({ acls: ACLS, agents: 2 });
  const metrics = m.cluster.masterSystem.metrics;
  http = await startMasterHttp({ host: "127.0.0.1", port: 0, master: m.cluster.facade, metrics, cluster: "test", version: "t", flags: {}, security: m.security });
  return { url: `http://${http.address}`, metrics, alice: await frameworkWithTask(m, "alice"), bob: await frameworkWithTask(m, "bob") };
}

const frameworkNames = (r: GetFrameworksResponse | undefined) => (r?.frameworks ?? []).map((f) => f.frameworkInfo?.name).sort();
const taskIds = (r: GetTasksResponse | undefined) => [...(r?.tasks ?? []), ...(r?.completedTasks ?? [])].map((t) => t.taskId?.value).sort();

describe("view ACLs filter the Operator API and HTTP state per principal", () => {
  it("GET_STATE, GET_FRAMEWORKS, GET_TASKS, GET_EXECUTORS: alice sees alice's, bob bob's, ops all", async () => {
    m = await startSecuredMaster({ acls: ACLS, agents: 2 });
    const alice = await frameworkWithTask(m, "alice");
    const bob = await frameworkWithTask(m, "bob");
    const op = (who: Who) => m!.client(services.operator, who);
    for (const [who, names, tasks] of [
      ["alice", ["alice-fw"], ["alice-task"]],
      ["bob", ["bob-fw"], ["bob-task"]],
      ["ops", ["alice-fw", "bob-fw"], ["alice-task", "bob-task"]],
    ] as const) {
      const state = await call<GetStateResponse>(op(who), services.operator, "getState");
      assert.deepEqual(frameworkNames(state.getFrameworks), names, `${who}: GET_STATE frameworks`);
      assert.deepEqual(taskIds(state.getTasks), tasks, `${who}: GET_STATE tasks`);
      assert.deepEqual((state.getExecutors?.executors ?? []).map((e) => e.executorInfo?.executorId?.value).sort(), tasks.map((t) => t.replace("task", "executor")), `${who}: GET_STATE executors`);
      assert.equal(state.getAgents?.agents.length, 2, `${who}: agents are not filtered`);
      assert.deepEqual(frameworkNames(await call<GetFrameworksResponse>(op(who), services.operator, "getFrameworks")), names, `${who}: GET_FRAMEWORKS`);
      assert.deepEqual(taskIds(await call<GetTasksResponse>(op(who), services.operator, "getTasks")), tasks, `${who}: GET_TASKS`);
      const executors = await call<GetExecutorsResponse>(op(who), services.operator, "getExecutors");
      assert.deepEqual(executors.executors.map((e) => e.executorInfo?.executorId?.value).sort(), tasks.map((t) => t.replace("task", "executor")), `${who}: GET_EXECUTORS`);
    }
    alice.stream.cancel();
    bob.stream.cancel();
  });

  it("SUBSCRIBE: alice's event stream carries only alice's framework, tasks and offers", async () => {
    m = await startSecuredMaster({ acls: ACLS, agents: 2 });
    const events: ClusterEvent[] = [];
    const sub = serverStream<OperatorServiceSubscribeResponse>(m!.client(services.operator, "alice"), "subscribe", {});
    sub.on("data", (r: OperatorServiceSubscribeResponse) => events.push(r.event!));
    sub.on("error", () => undefined);
    await until(m!, "SUBSCRIBED", () => events.find((e) => e.kind.case === "subscribed"));
    const opsEvents: ClusterEvent[] = [];
    const opsSub = serverStream<OperatorServiceSubscribeResponse>(m!.client(services.operator, "ops"), "subscribe", {});
    opsSub.on("data", (r: OperatorServiceSubscribeResponse) => opsEvents.push(r.event!));
    opsSub.on("error", () => undefined);
    await until(m!, "ops SUBSCRIBED", () => opsEvents.find((e) => e.kind.case === "subscribed"));
    const alice = await frameworkWithTask(m, "alice");
    const bob = await frameworkWithTask(m, "bob");
    await until(m!, "ops saw both tasks", () => opsEvents.filter((e) => e.kind.case === "taskAdded").length === 2 || undefined);
    const names = (list: ClusterEvent[], kind: string) =>
      list.filter((e) => e.kind.case === kind).map((e) => {
        const v = e.kind.value as { task?: { taskId?: { value: string } }; framework?: { frameworkInfo?: { name: string } }; offers?: { frameworkId?: { value: string } }[] };
        return v.task?.taskId?.value ?? v.framework?.frameworkInfo?.name ?? v.offers?.[0]?.frameworkId?.value;
      });
    assert.deepEqual(names(events, "taskAdded"), ["alice-task"]);
    assert.deepEqual([...new Set(names(events, "frameworkAdded"))], ["alice-fw"]);
    assert.ok(names(events, "offersMade").every((id) => id === alice.frameworkId), "only alice's offers");
    assert.ok(names(opsEvents, "offersMade").includes(bob.frameworkId), "ops sees bob's offers");
    assert.deepEqual(names(opsEvents, "taskAdded").sort(), ["alice-task", "bob-task"]);
    sub.cancel();
    opsSub.cancel();
    alice.stream.cancel();
    bob.stream.cancel();
  });

  it("HTTP /state, /state-summary, /frameworks, /tasks and /events are filtered the same way", async () => {
    const { url, metrics, alice, bob } = await twoFrameworksWithHttp();
    const get = async (path: string, who: Who) => {
      const r = await fetch(url + path, { headers: { authorization: authorizationHeader(CREDENTIALS.find((c) => c.principal === who)!) } });
      assert.equal(r.status, 200, `${who} ${path}`);
      return (await r.json()) as { frameworks: { name: string; tasks?: { id: string }[] }[]; tasks: { id: string }[]; slaves: unknown[] };
    };
    for (const [who, names] of [
      ["alice", ["alice-fw"]],
      ["bob", ["bob-fw"]],
      ["ops", ["alice-fw", "bob-fw"]],
    ] as const) {
      const state = await get("/state", who);
      assert.deepEqual(state.frameworks.map((f) => f.name).sort(), names, `${who} /state`);
      assert.deepEqual(state.frameworks.flatMap((f) => f.tasks!.map((t) => t.id)).sort(), names.map((n) => n.replace("fw", "task")), `${who} /state tasks`);
      assert.equal(state.slaves.length, 2);
      assert.deepEqual((await get("/state-summary", who)).frameworks.map((f) => f.name).sort(), names, `${who} /state-summary`);
      assert.deepEqual((await get("/frameworks", who)).frameworks.map((f) => f.name).sort(), names, `${who} /frameworks`);
      assert.deepEqual((await get("/tasks", who)).tasks.map((t) => t.id).sort(), names.map((n) => n.replace("fw", "task")), `${who} /tasks`);
    }
    // /events: alice's SUBSCRIBED state holds only her framework.
    const controller = new AbortController();
    const r = await fetch(`${url}/events`, { headers: { authorization: authorizationHeader(CREDENTIALS[0]!) }, signal: controller.signal });
    const reader = r.body!.getReader();
    let text = "";
    while (!text.includes("\n\n")) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    assert.match(text, /"alice-fw"/);
    assert.doesNotMatch(text, /bob-fw|bob-task/);
    const bad = await fetch(`${url}/tasks?limit=x`, { headers: { authorization: authorizationHeader(CREDENTIALS[2]!) } });
    assert.equal(bad.status, 400);
    alice.stream.cancel();
    bob.stream.cancel();
  });
});

describe("teardown_frameworks: the operator TEARDOWN call and POST /teardown", () => {
  it("bob may not tear down alice's framework (gRPC and HTTP: PERMISSION_DENIED/403); ops may; unknown ids are NOT_FOUND", async () => {
    const { url, metrics, alice, bob } = await twoFrameworksWithHttp();
    await assert.rejects(call(m!.client(services.operator, "bob"), services.operator, "teardown", { frameworkId: { value: alice.frameworkId } }), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.PERMISSION_DENIED);
      assert.match(e.details, new RegExp(`principal 'bob' may not tear down framework ${alice.frameworkId} of principal 'alice' \\(ACL teardown_frameworks\\)`));
      return true;
    });
    const form = (who: Who, id: string) =>
      fetch(`${url}/teardown`, {
        method: "POST",
        headers: { authorization: authorizationHeader(CREDENTIALS.find((c) => c.principal === who)!), "content-type": "application/x-www-form-urlencoded" },
        body: `frameworkId=${encodeURIComponent(id)}`,
      });
    const denied = await form("alice", bob.frameworkId);
    assert.equal(denied.status, 403);
    assert.match(((await denied.json()) as { message: string }).message, /principal 'alice' may not tear down framework .* \(ACL teardown_frameworks\)/);
    assert.equal(metrics.snapshot()["authorization/denied/teardown_frameworks"], 2);
    assert.ok(await m!.cluster.facade.inspect((core) => core.frameworks.has(alice.frameworkId) && core.frameworks.has(bob.frameworkId)), "both still registered");

    await call(m!.client(services.operator, "ops"), services.operator, "teardown", { frameworkId: { value: alice.frameworkId } });
    await until(m!, "alice's framework removed", () => m!.cluster.facade.inspect((core) => !core.frameworks.has(alice.frameworkId) || undefined));
    await until(m!, "alice's scheduler told", () => alice.stream.status);
    assert.equal((await form("ops", bob.frameworkId)).status, 200);
    await until(m!, "bob's framework removed", () => m!.cluster.facade.inspect((core) => !core.frameworks.has(bob.frameworkId) || undefined));
    const missing = await form("ops", "no-such-framework");
    assert.equal(missing.status, 404);
    assert.equal((await fetch(`${url}/teardown`, { method: "POST", headers: { authorization: authorizationHeader(CREDENTIALS[2]!) } })).status, 400);
    await assert.rejects(call(m!.client(services.operator, "ops"), services.operator, "teardown", { frameworkId: { value: alice.frameworkId } }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
  });
});

describe("access_sandboxes per user on /files", () => {
  it("alice reads the sandbox of alice's framework, not bob's; listing above the frameworks needs every user; ops reads all", async () => {
    const work = await mkdtemp(join(tmpdir(), "sandbox-acl-"));
    try {
      const sandbox = (fw: string) => join(work, "agents", "a1", "frameworks", fw, "executors", "e", "runs", "latest");
      for (const fw of ["fw-alice", "fw-bob", "fw-gone"]) {
        await mkdir(sandbox(fw), { recursive: true });
        await writeFile(join(sandbox(fw), "stdout"), `output of ${fw}\n`);
      }
      const metrics = new Metrics();
      const security = serviceSecurity({ credentials: CREDENTIALS, acls: Acls.parse({ access_sandboxes: OWN }) }, metrics);
      const app = createHttpServer({ host: "127.0.0.1", port: 0, version: "t", flags: {}, metrics, security });
      const users: Record<string, string> = { "fw-alice": "alice", "fw-bob": "bob" };
      addSandboxFileRoutes(app, work, { security, frameworkUser: (id) => users[id] });
      await app.ready();
      const get = (who: Who, op: string, path: string) =>
        app.inject({ method: "GET", url: `/files/${op}?path=${encodeURIComponent(path)}${op === "read" ? "&offset=0" : ""}`, headers: { authorization: authorizationHeader(CREDENTIALS.find((c) => c.principal === who)!) } });
      for (const op of ["read", "download"]) {
        assert.equal((await get("alice", op, join(sandbox("fw-alice"), "stdout"))).statusCode, 200, `alice ${op} her own`);
        const denied = await get("alice", op, join(sandbox("fw-bob"), "stdout"));
        assert.equal(denied.statusCode, 403, `alice ${op} bob's`);
        assert.match(JSON.parse(denied.body).message, /principal 'alice' may not read the sandbox of framework fw-bob \(user 'bob'\) \(ACL access_sandboxes\)/);
        assert.equal((await get("bob", op, join(sandbox("fw-bob"), "stdout"))).statusCode, 200, `bob ${op} his own`);
        assert.equal((await get("ops", op, join(sandbox("fw-bob"), "stdout"))).statusCode, 200, `ops ${op} bob's`);
        assert.equal((await get("alice", op, join(sandbox("fw-gone"), "stdout"))).statusCode, 403, "a framework the agent no longer knows needs every user");
        assert.equal((await get("ops", op, join(sandbox("fw-gone"), "stdout"))).statusCode, 200);
      }
      assert.equal((await get("alice", "browse", sandbox("fw-alice"))).statusCode, 200);
      assert.equal((await get("alice", "browse", sandbox("fw-bob"))).statusCode, 403);
      assert.equal((await get("alice", "browse", join(work, "agents", "a1", "frameworks"))).statusCode, 403, "listing every framework's sandbox");
      assert.equal((await get("ops", "browse", join(work, "agents", "a1", "frameworks"))).statusCode, 200);
      assert.ok((metrics.snapshot()["authorization/denied/access_sandboxes"] ?? 0) >= 6);
      await app.close();
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
