import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { ResourceSchema } from "../../src/gen/dcos/v1/resources_pb.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { parseResources } from "../../src/resources/parse.js";
import { rangesResource, scalarResource, setResource } from "../../src/resources/resource.js";
import { Resources } from "../../src/resources/resources.js";

const r = (text: string): Resources => parseResources(text);

describe("Resources", () => {
  it("adds resources of the same kind into one entry and keeps kinds apart", () => {
    const sum = r("cpus:1;mem:256").add(r("cpus:0.5;cpus(ops):2"));
    assert.equal(sum.toString(), "cpus:1.5; mem:256; cpus(ops):2");
    assert.equal(sum.scalar("cpus"), 3.5);
    assert.equal(sum.size, 3);
  });

  it("keeps scalars to three decimals so 0.1 + 0.2 cpus is exactly 0.3", () => {
    const sum = r("cpus:0.1").add(r("cpus:0.2"));
    assert.ok(sum.equals(r("cpus:0.3")));
    assert.equal(sum.scalar("cpus"), 0.3);
  });

  it("subtracts and drops what becomes empty, never going negative", () => {
    assert.equal(r("cpus:2;mem:512").subtract(r("cpus:2")).toString(), "mem:512");
    assert.ok(r("cpus:1").subtract(r("cpus:5")).isEmpty());
    assert.equal(r("cpus(ops):1").subtract(r("cpus:1")).toString(), "cpus(ops):1", "unreserved does not cancel reserved");
  });

  it("splits and merges port ranges", () => {
    const left = r("ports:[31000-32000]").subtract(r("ports:[31000-31009,31500-31500]"));
    assert.deepEqual(left.ports(), [
      { begin: 31010, end: 31499 },
      { begin: 31501, end: 32000 },
    ]);
    assert.ok(left.add(r("ports:[31000-31009]")).add(r("ports:[31500-31500]")).equals(r("ports:[31000-32000]")));
  });

  it("handles sets", () => {
    const gpus = r("gpus_ids:{a,b,c}");
    assert.deepEqual(gpus.subtract(r("gpus_ids:{b}")).set("gpus_ids"), ["a", "c"]);
    assert.ok(gpus.contains(r("gpus_ids:{c,a}")));
    assert.ok(!gpus.contains(r("gpus_ids:{d}")));
  });

  it("contains only what is there in the same kind and amount", () => {
    const agent = r("cpus:4;mem:1024;ports:[31000-31010];cpus(ops):2");
    assert.ok(agent.contains(r("cpus:4;ports:[31005-31006]")));
    assert.ok(!agent.contains(r("cpus:5")));
    assert.ok(!agent.contains(r("cpus(ops):3")));
    assert.ok(!agent.contains(r("cpus(web):1")));
    assert.ok(!agent.contains(r("ports:[31010-31011]")));
    assert.ok(agent.contains(Resources.empty()));
  });

  it("filters by role: unreserved, reserved, allocatable to a role and its children", () => {
    const agent = r("cpus:4;mem:1024;cpus(ops):2;mem(eng):64;disk(eng/web):10");
    assert.equal(agent.unreserved().toString(), "cpus:4; mem:1024");
    assert.equal(agent.reserved().toString(), "cpus(ops):2; mem(eng):64; disk(eng/web):10");
    assert.equal(agent.reserved("ops").toString(), "cpus(ops):2");
    assert.equal(agent.allocatableTo("ops").toString(), "cpus:4; mem:1024; cpus(ops):2");
    assert.equal(agent.allocatableTo("eng/web").toString(), "cpus:4; mem:1024; mem(eng):64; disk(eng/web):10");
    assert.deepEqual(agent.reservationRoles().sort(), ["eng", "eng/web", "ops"]);
  });

  it("allocates to a role, filters by allocation role and flattens allocation_info away", () => {
    const offered = r("cpus:1;mem:128").allocate("web");
    assert.equal(offered.toString(), "cpus@web:1; mem@web:128");
    assert.ok(offered.toProto().every((p) => p.allocationInfo?.role === "web"));
    assert.ok(!offered.contains(r("cpus:1")), "allocated and unallocated resources are different kinds");
    assert.ok(offered.unallocated().equals(r("cpus:1;mem:128")));
    assert.ok(offered.add(r("cpus:1").allocate("db")).allocatedTo("db").equals(r("cpus:1").allocate("db")));
    assert.ok(r("cpus(ops):1;cpus:2").allocate("ops").flatten().equals(r("cpus:3")));
  });

  it("compares equal regardless of order and of how values were split", () => {
    assert.ok(r("cpus:1;mem:2;ports:[1-2,5-6]").equals(r("ports:[5-6];mem:2;ports:[1-2];cpus:0.5;cpus:0.5")));
    assert.ok(!r("cpus:1").equals(r("cpus:1;mem:1")));
  });

  it("sums quantities over roles for shares", () => {
    const q = r("cpus:4;cpus(ops):2;mem:100;ports:[1-10]").quantities();
    assert.deepEqual(q.entries().sort(), [
      ["cpus", 6],
      ["mem", 100],
    ]);
  });

  it("treats a persistent volume as one indivisible thing", () => {
    const volume = create(ResourceSchema, {
      name: "disk",
      type: Value_Type.SCALAR,
      scalar: { value: 100 },
      reservations: [{ role: "db", type: 2 }],
      disk: { persistence: { id: "vol-1" } },
    });
    const v = Resources.of([volume]);
    assert.equal(v.toString(), "disk(db)[vol-1]:100");
    assert.ok(v.add(v).equals(v));
    assert.ok(!v.contains(Resources.of([{ ...volume, scalar: { $typeName: "dcos.v1.Value.Scalar", value: 50 } }])));
    assert.ok(v.subtract(v).isEmpty());
  });

  it("builds resources with the constructors and drops empty values", () => {
    const res = Resources.of([scalarResource("cpus", 0), rangesResource("ports", [{ begin: 1, end: 3 }], "ops"), setResource("x", [])]);
    assert.equal(res.toString(), "ports(ops):[1-3]");
  });

  it("rejects invalid resources with INVALID_ARGUMENT naming the problem", () => {
    const cases: [object, RegExp][] = [
      [{ name: "", type: Value_Type.SCALAR, scalar: { value: 1 } }, /name is empty/],
      [{ name: "cpus", type: Value_Type.SCALAR, scalar: { value: -1 } }, /scalar value -1/],
      [{ name: "cpus", type: Value_Type.SCALAR }, /without a scalar value/],
      [{ name: "cpus", type: Value_Type.UNSPECIFIED }, /must be SCALAR, RANGES or SET/],
      [{ name: "ports", type: Value_Type.RANGES, ranges: { range: [{ begin: 5, end: 4 }] } }, /begin is after its end/],
      [{ name: "cpus", type: Value_Type.SCALAR, scalar: { value: 1 }, reservations: [{ role: "*" }] }, /reserved to '\*'/],
      [{ name: "cpus", type: Value_Type.SCALAR, scalar: { value: 1 }, reservations: [{ role: "a" }, { role: "b" }] }, /does not refine/],
      [{ name: "cpus", type: Value_Type.SCALAR, scalar: { value: 1 }, allocationInfo: { role: "a//b" } }, /allocated to invalid role/],
    ];
    for (const [init, pattern] of cases) {
      assert.throws(
        () => Resources.of([create(ResourceSchema, init)]),
        (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && pattern.test(e.message),
        `expected ${pattern} for ${JSON.stringify(init)}`,
      );
    }
  });
});
