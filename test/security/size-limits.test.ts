/**
 * Oversized names: every string and list a scheduler sends that reaches the master's state
 * has a bound, refused with a precise error (the subscription) or TASK_ERROR (the task),
 * and a request over the public services' size limit never gets decoded.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { SubscribeRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Cluster, commandTask } from "../master/harness.js";
import { services, startSecuredMaster, subscribeAs, type SecuredMaster } from "./secured-master.js";
import { RecordingSink } from "../master/harness.js";

let cluster: Cluster | undefined;
let m: SecuredMaster | undefined;
afterEach(async () => {
  await cluster?.stop();
  await m?.stop();
  cluster = m = undefined;
});

async function subscribeRefused(c: Cluster, info: Record<string, unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(
    c.facade.subscribe(create(SubscribeRequestSchema, { frameworkInfo: { user: "nobody", roles: ["*"], ...info } }), new RecordingSink()),
    (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && pattern.test((e as Error).message),
  );
}

describe("Size limits on what reaches state", () => {
  it("oversized names: framework names, roles, labels and principals beyond their bounds are INVALID_ARGUMENT", async () => {
    cluster = await Cluster.start({ agents: 1 });
    await subscribeRefused(cluster, { name: "n".repeat(100_000) }, /framework_info.name is 100000 characters long; at most 1024 characters/);
    await subscribeRefused(cluster, { name: "ok", roles: ["r".repeat(100_000)] }, /invalid role .*it is 100000 characters long; at most 256/);
    await subscribeRefused(cluster, { name: "ok", roles: Array.from({ length: 65 }, (_, i) => `r${i}`) }, /framework_info.roles has 65 entries; at most 64/);
    await subscribeRefused(cluster, { name: "ok", labels: { labels: Array.from({ length: 65 }, (_, i) => ({ key: `k${i}`, value: "v" })) } }, /framework_info labels has 65 entries; at most 64/);
    await subscribeRefused(cluster, { name: "ok", labels: { labels: [{ key: "k", value: "v".repeat(5000) }] } }, /framework_info label 'k' is 5000 characters long; at most 4096/);
    assert.equal(await cluster.facade.inspect((core) => core.frameworks.size), 0);
  });

  it("tasks with an oversized name, command, environment or label become TASK_ERROR saying which bound", async () => {
    cluster = await Cluster.start({ agents: 1 });
    const s = await cluster.subscribe("fw");
    const offer = s.sink.offers()[0]!;
    const big = commandTask("big-name", "cpus:0.1;mem:32");
    big.name = "x".repeat(2000);
    const env = commandTask("big-env", "cpus:0.1;mem:32");
    env.command!.environment = { $typeName: "dcos.v1.Environment", variables: [{ $typeName: "dcos.v1.Environment.Variable", name: "SECRET", value: "s".repeat(40_000), type: 0 }] };
    const cmd = commandTask("big-command", "cpus:0.1;mem:32", "echo " + "y".repeat(70_000));
    const fine = commandTask("fine", "cpus:0.1;mem:32");
    await cluster.launch(s, [offer], [big, env, cmd, fine]);
    const byId = new Map(s.sink.updates().map((u) => [u.taskId!.value, u]));
    assert.equal(byId.get("big-name")?.state, TaskState.ERROR);
    assert.match(byId.get("big-name")!.message, /name is 2000 characters long; at most 1024/);
    assert.match(byId.get("big-env")!.message, /environment variable 'SECRET' is 40000 characters long; at most 32768/);
    assert.match(byId.get("big-command")!.message, /command value is 70005 characters long; at most 65536/);
    assert.equal(byId.has("fine"), false, "the task within bounds is launched");
  });

  it("a 10 MB subscription is refused RESOURCE_EXHAUSTED before it is decoded", async () => {
    m = await startSecuredMaster({ authenticate: false });
    const s = subscribeAs(m, m.client(services.scheduler, "anonymous"), { name: "n".repeat(10 * 1024 * 1024) });
    const status = await s.status;
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(status.details, /dcos.v1.SubscribeRequest of \d+ bytes is larger than this service accepts \(4194304 bytes\)/);
  });
});
