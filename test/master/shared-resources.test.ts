import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clone, create, toBinary } from "@bufbuild/protobuf";
import { AllocationInfoSchema, DiskInfoSchema, ReservationInfoSchema, ResourceSchema, type Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { SharedResources } from "../../src/actors/master/shared-resources.js";
import { parseResources } from "../../src/resources/index.js";

/** What a launched task holds: each scalar allocated to `role` (fresh objects every call, as decoding gives). */
function held(text: string, role = "*"): Resource[] {
  return parseResources(text)
    .toProto()
    .map((r) => {
      const c = clone(ResourceSchema, r);
      c.allocationInfo = create(AllocationInfoSchema, { role });
      return c;
    });
}

const bytes = (list: Resource[]): string => list.map((r) => Buffer.from(toBinary(ResourceSchema, r)).toString("hex")).join(",");

describe("master: resources shared by adopted tasks", () => {
  it("equal plain resources become one object; unequal ones (value, name, role, allocated or not) stay apart", () => {
    const shared = new SharedResources();
    const a = held("cpus:0.1;mem:32");
    const b = held("cpus:0.1;mem:32");
    const before = bytes(b);
    shared.share(a);
    shared.share(b);
    assert.equal(b[0], a[0], "cpus shared");
    assert.equal(b[1], a[1], "mem shared");
    assert.equal(bytes(b), before, "the same resources, byte for byte");
    const others = [...held("cpus:0.2;mem:64"), ...held("cpus:0.1", "web"), ...parseResources("cpus:0.1").toProto()];
    shared.share(others);
    for (const r of others) assert.ok(r !== a[0] && r !== a[1], `${r.name} ${r.scalar?.value} ${r.allocationInfo?.role ?? "unallocated"} is its own`);
    assert.equal(shared.size, 6, "cpus:0.1@*, mem:32@*, cpus:0.2@*, mem:64@*, cpus:0.1@web, cpus:0.1 unallocated");
  });

  it("shares nothing but plain scalars: reserved, disk, ranges, unknown fields and -0 stay the task's own", () => {
    const shared = new SharedResources();
    shared.share(held("cpus:0.1;disk:10"));
    const reserved = held("cpus:0.1")[0]!;
    reserved.reservations.push(create(ReservationInfoSchema, { role: "web" }));
    const disk = held("disk:10")[0]!;
    disk.disk = create(DiskInfoSchema, {});
    const ports = create(ResourceSchema, { name: "ports", type: Value_Type.RANGES, ranges: { range: [{ begin: 1, end: 2 }] }, allocationInfo: { role: "*" } });
    const unknown = clone(ResourceSchema, held("cpus:0.1")[0]!);
    unknown.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    const negativeZero = create(ResourceSchema, { name: "gpus", type: Value_Type.SCALAR, scalar: { value: -0 } });
    const list = [reserved, disk, ports, unknown, negativeZero];
    const kept = [...list];
    shared.share(list);
    list.forEach((r, i) => assert.equal(r, kept[i], `resource ${i} is its own`));
    assert.equal(shared.size, 2, "only the plain ones of the first list are known");
  });

  it("keeps at most `max` distinct resources; later ones stay the task's own", () => {
    const shared = new SharedResources(2);
    shared.share(held("cpus:1;mem:1"));
    const third = held("cpus:2");
    const kept = third[0];
    shared.share(third);
    assert.equal(third[0], kept);
    assert.equal(shared.size, 2);
    const again = held("cpus:1");
    shared.share(again);
    assert.notEqual(again[0], kept, "the known ones are still shared");
  });
});
