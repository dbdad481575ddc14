import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReservationInfo_Type } from "../../src/gen/dcos/v1/resources_pb.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { parseResources } from "../../src/resources/parse.js";

describe("parseResources (the agent's --resources flag)", () => {
  it("parses scalars, ranges, sets and static reservations", () => {
    const res = parseResources("cpus:4;mem:8192;ports:[31000-32000];cpus(ops):2;zones:{b,a}");
    assert.equal(res.toString(), "cpus:4; mem:8192; ports:[31000-32000]; cpus(ops):2; zones:{a,b}");
    const reserved = res.reserved("ops").toProto()[0]!;
    assert.equal(reserved.reservations.length, 1);
    assert.equal(reserved.reservations[0]!.type, ReservationInfo_Type.STATIC);
    assert.equal(reserved.reservations[0]!.role, "ops");
  });

  it("tolerates spaces and a trailing ';', adds up repeated entries, treats (*) as unreserved", () => {
    const res = parseResources(" cpus : 1 ; cpus(*):1.5; ports:[1-2, 3-4];");
    assert.equal(res.toString(), "cpus:2.5; ports:[1-4]");
  });

  it("uses the default role for entries without parentheses", () => {
    assert.equal(parseResources("cpus:1;mem(web):2", { defaultRole: "ops" }).toString(), "cpus(ops):1; mem(web):2");
  });

  it("round-trips through its own format", () => {
    const text = "cpus:4; mem:8192; ports:[31000-31999,32500-33000]; cpus(eng/web):0.25; zones:{a,b}";
    assert.equal(parseResources(text).toString(), text);
  });

  const bad: [string, RegExp][] = [
    ["cpus", /entry 1 'cpus': expected 'name:value'/],
    ["cpus:4;;mem:1", /entry 2 is empty/],
    ["cpus:x", /value 'x' is not a non-negative number/],
    ["cpus:-1", /value '-1' is not a non-negative number/],
    ["cpus:", /the value is missing/],
    ["mem:1;cpus(a//b):1", /entry 2 'cpus\(a\/\/b\):1': role 'a\/\/b' is invalid: it contains an empty component/],
    ["cpus(ops:1", /unbalanced or misplaced parentheses/],
    ["ports:[32000-31000]", /range '32000-31000' begins after it ends/],
    ["ports:[1-2", /lack the closing '\]'/],
    ["ports:[]", /are empty/],
    ["ports:[a-b]", /range 'a-b' is not 'begin-end'/],
    ["ports:[1-99999999999]", /goes beyond 4294967295/],
    ["zones:{a,,b}", /has an empty item/],
    ["zones:{a", /lacks the closing '}'/],
    ["cp us:1", /contains whitespace/],
  ];
  for (const [text, pattern] of bad) {
    it(`rejects "${text}" with INVALID_ARGUMENT`, () => {
      assert.throws(
        () => parseResources(text),
        (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && e.message.startsWith(`Invalid --resources "${text}": `) && pattern.test(e.message),
      );
    });
  }
});
