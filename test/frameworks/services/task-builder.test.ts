/**
 * The TaskInfo of a services instance: a Docker app without cmd or args runs the image's
 * own entrypoint and default command (Mesos: CommandInfo shell=false with no value and no
 * arguments), which the master accepts only for a DOCKER container.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commandProblem } from "../../../src/actors/master/validation.js";
import { appSpec, normalizeApp } from "../../../src/frameworks/services/app-definition.js";
import { buildTask } from "../../../src/frameworks/services/task-builder.js";
import { ContainerInfo_Type } from "../../../src/gen/dcos/v1/tasks_pb.js";

const launch = { taskId: "t1", agentId: "a1", host: "h1", version: "v1", resources: [], ports: [31000] };

describe("task builder: commands", () => {
  it("a Docker app without cmd or args: shell=false, no value, no arguments; the master accepts it for DOCKER only", () => {
    const spec = appSpec(normalizeApp({ id: "/img", container: { type: "DOCKER", docker: { image: "nginx:1.25-alpine" } } }));
    const task = buildTask(spec, launch, {});
    assert.equal(task.container?.type, ContainerInfo_Type.DOCKER);
    assert.equal(task.command?.shell, false);
    assert.equal(task.command?.value, "");
    assert.deepEqual(task.command?.arguments, []);
    assert.ok(task.command?.environment?.variables.some((v) => v.name === "PORT0" && v.value === "31000"), "the environment is still given");
    assert.equal(commandProblem(task.command!, "Task 't1' command", true), undefined);
    assert.equal(commandProblem(task.command!, "Task 't1' command", false), "Task 't1' command has shell=false but no arguments (argv[0] is the program)");
  });

  it("cmd goes through the shell; Docker args are the image's CMD (no value), command args keep argv[0] as value", () => {
    const cmd = buildTask(appSpec(normalizeApp({ id: "/c", cmd: "serve $PORT0" })), launch, {});
    assert.deepEqual([cmd.command?.shell, cmd.command?.value, cmd.command?.arguments], [true, "serve $PORT0", []]);
    const dockerArgs = buildTask(appSpec(normalizeApp({ id: "/d", args: ["--port", "80"], container: { type: "DOCKER", docker: { image: "nginx" } } })), launch, {});
    assert.deepEqual([dockerArgs.command?.shell, dockerArgs.command?.value, dockerArgs.command?.arguments], [false, "", ["--port", "80"]]);
    const args = buildTask(appSpec(normalizeApp({ id: "/a", args: ["/bin/serve", "80"] })), launch, {});
    assert.deepEqual([args.command?.shell, args.command?.value, args.command?.arguments], [false, "/bin/serve", ["/bin/serve", "80"]]);
  });
});
