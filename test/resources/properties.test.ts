import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { rangesResource, scalarResource, setResource } from "../../src/resources/resource.js";
import { Resources } from "../../src/resources/resources.js";

const roles = fc.constantFrom(undefined, "ops", "eng/web");
const scalar = fc.record({ name: fc.constantFrom("cpus", "mem", "disk"), v: fc.integer({ min: 0, max: 100_000 }), role: roles }).map(({ name, v, role }) => scalarResource(name, v / 1000, role));
const ports = fc
  .record({ begin: fc.integer({ min: 1, max: 200 }), len: fc.integer({ min: 0, max: 30 }), role: roles })
  .map(({ begin, len, role }) => rangesResource("ports", [{ begin, end: begin + len }], role));
const set = fc.record({ items: fc.subarray(["a", "b", "c", "d"]), role: roles }).map(({ items, role }) => setResource("zones", items, role));
const resource: fc.Arbitrary<Resource> = fc.oneof(scalar, ports, set);
const resources = fc.array(resource, { maxLength: 8 }).map((list) => Resources.of(list));

const runs = { numRuns: 300 };

function neverNegative(r: Resources): boolean {
  return r.toProto().every((p) => (p.scalar ? p.scalar.value > 0 : true) && (p.ranges ? p.ranges.range.every((x) => x.begin <= x.end) : true));
}

describe("Resources properties", () => {
  it("subtract undoes add: (a + b) − b = a", () => {
    // Holds when a and b do not overlap in ranges or sets, which union would merge: use b = scalars only.
    fc.assert(
      fc.property(resources, fc.array(scalar, { maxLength: 5 }), (a, bs) => {
        const b = Resources.of(bs);
        assert.ok(a.add(b).subtract(b).equals(a), `${a} + ${b} − ${b}`);
      }),
      runs,
    );
  });

  it("add undoes subtract when the part is contained: (a − b) + b = a", () => {
    fc.assert(
      fc.property(resources, fc.array(resource, { maxLength: 8 }), (a, bs) => {
        const b = a.subtract(Resources.of(bs)); // a part of a
        fc.pre(a.contains(b));
        assert.ok(a.subtract(b).add(b).equals(a), `${a} − ${b} + ${b}`);
      }),
      runs,
    );
  });

  it("a + b contains a and b; a contains a − b", () => {
    fc.assert(
      fc.property(resources, resources, (a, b) => {
        const sum = a.add(b);
        assert.ok(sum.contains(a) && sum.contains(b));
        assert.ok(a.contains(a.subtract(b)));
      }),
      runs,
    );
  });

  it("contains agrees with subtract: a ⊇ b iff nothing of b is left after taking a away", () => {
    fc.assert(
      fc.property(resources, resources, (a, b) => {
        assert.equal(a.contains(b), b.subtract(a).isEmpty());
      }),
      runs,
    );
  });

  it("is never negative and never holds empty entries", () => {
    fc.assert(
      fc.property(resources, resources, resources, (a, b, c) => {
        for (const x of [a.subtract(b), a.subtract(b).subtract(c), a.add(b).subtract(c), c.subtract(a.add(b))]) {
          assert.ok(neverNegative(x), String(x));
        }
      }),
      runs,
    );
  });

  it("add is commutative and equality ignores order", () => {
    fc.assert(
      fc.property(resources, resources, (a, b) => {
        assert.ok(a.add(b).equals(b.add(a)));
      }),
      runs,
    );
  });

  it("splitting by role and adding back gives the whole", () => {
    fc.assert(
      fc.property(resources, (a) => {
        let whole = a.unreserved();
        for (const role of a.reservationRoles()) whole = whole.add(a.reserved(role));
        assert.ok(whole.equals(a));
        assert.ok(a.allocate("web").unallocated().equals(a));
      }),
      runs,
    );
  });
});
