import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { ReservationInfo_Type, ResourceSchema, type Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { parseResources } from "../../src/resources/parse.js";
import { Resources } from "../../src/resources/resources.js";
import { SHARED_SCALARS_LIMIT, SharedScalars } from "../../src/resources/shared-scalars.js";

const r = (text: string): Resources => parseResources(text);
const byName = (res: Resources, name: string): Resource => res.toProto().find((x) => x.name === name)!;

describe("shared scalars", () => {
  it("computes one message for an amount of one kind, however many agents' books hold it", () => {
    // Two agents' books, parsed apart as two reregistrations are decoded apart.
    const free = [1, 2].map(() => r("cpus:8;mem:16384;disk:100000").subtract(r("cpus:0.5;mem:160")));
    assert.equal(String(free[0]), "cpus:7.5; mem:16224; disk:100000");
    assert.equal(byName(free[0]!, "cpus"), byName(free[1]!, "cpus"));
    assert.equal(byName(free[0]!, "mem"), byName(free[1]!, "mem"));
    assert.notEqual(byName(free[0]!, "disk"), byName(free[1]!, "disk"), "an amount nothing computed stays the agent's own");
    // What a framework holds there: sums allocated to its role.
    const held = [1, 2].map(() => r("cpus:0.1;mem:32").add(r("cpus:0.2;mem:32")).allocate("web"));
    assert.equal(String(held[0]), "cpus@web:0.3; mem@web:64");
    assert.equal(byName(held[0]!, "cpus"), byName(held[1]!, "cpus"));
    assert.equal(byName(held[0]!, "cpus").allocationInfo?.role, "web");
    // Subtracting a shared amount from itself leaves nothing, as any equal amount would.
    assert.ok(free[0]!.subtract(free[1]!).isEmpty());
    assert.equal(String(held[0]!.subtract(r("cpus:0.1").allocate("web"))), "cpus@web:0.2; mem@web:64");
    assert.equal(String(r("cpus:4;mem:10").capScalars(new Map([["cpus", 2500]]))), "cpus:2.5; mem:10");
  });

  it("never shares a resource with parts its kind does not name (labels, disk, unknown fields), and keeps those parts", () => {
    const labelled = (value: number): Resource =>
      create(ResourceSchema, {
        name: "cpus",
        type: Value_Type.SCALAR,
        scalar: { value },
        reservations: [{ type: ReservationInfo_Type.DYNAMIC, role: "ops", principal: "p", labels: { labels: [{ key: "k", value: "v" }] } }],
      });
    const unknown = (value: number): Resource => {
      const res = create(ResourceSchema, { name: "gpus", type: Value_Type.SCALAR, scalar: { value } });
      res.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
      return res;
    };
    for (const make of [labelled, unknown]) {
      const left = [1, 2].map(() => Resources.of([make(3)]).subtract(Resources.of([make(1)])).toProto()[0]!);
      assert.equal(left[0]!.scalar?.value, 2);
      assert.notEqual(left[0], left[1]);
      assert.deepEqual(left[0], left[1]);
      assert.deepEqual(left[0]!.reservations, make(3).reservations, "the labels kept");
      assert.deepEqual(left[0]!.$unknown, make(3).$unknown, "the unknown fields kept");
    }
  });

  it(`keeps at most ${SHARED_SCALARS_LIMIT} amounts, however many it is asked for`, () => {
    const table = new SharedScalars<{ amount: number }>();
    for (let i = 1; i <= SHARED_SCALARS_LIMIT * 2 + 5; i++) {
      assert.equal(table.get("cpus|1", undefined, i), undefined);
      assert.equal(table.keep("cpus|1", undefined, i, { amount: i }).amount, i);
      assert.ok(table.size <= SHARED_SCALARS_LIMIT);
    }
    assert.equal(table.get("cpus|1", undefined, SHARED_SCALARS_LIMIT * 2 + 5)?.amount, SHARED_SCALARS_LIMIT * 2 + 5, "the latest kept");
    assert.equal(table.get("cpus|1", "web", SHARED_SCALARS_LIMIT * 2 + 5), undefined, "per allocation role");
  });
});
