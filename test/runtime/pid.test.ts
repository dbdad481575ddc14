import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Pid } from "../../src/runtime/pid.js";

describe("Pid", () => {
  it("parses name@host:port and formats it back", () => {
    const pid = Pid.parse("master@10.0.0.1:5050");
    assert.equal(pid.name, "master");
    assert.equal(pid.address, "10.0.0.1:5050");
    assert.equal(pid.toString(), "master@10.0.0.1:5050");
    assert.equal(JSON.stringify({ pid }), '{"pid":"master@10.0.0.1:5050"}');
  });

  it("compares by value", () => {
    assert.ok(Pid.parse("a(1)@h:1").equals(new Pid("a(1)", "h:1")));
    assert.ok(!Pid.parse("a@h:1").equals(Pid.parse("a@h:2")));
    assert.ok(!Pid.parse("a@h:1").equals(undefined));
  });

  for (const bad of ["", "master", "@host:1", "master@", "a@b@c"]) {
    it(`rejects '${bad}' with INVALID_ARGUMENT`, () => {
      assert.throws(() => Pid.parse(bad), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /Invalid pid/.test(e.message));
      assert.equal(Pid.tryParse(bad), undefined);
    });
  }
});
