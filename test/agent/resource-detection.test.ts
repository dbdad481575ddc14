import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { describe, it } from "node:test";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { parseAttributes } from "../../src/actors/agent/attributes.js";
import { agentResources, hostFacts, offeredDiskMb, offeredMemMb } from "../../src/actors/agent/resource-detection.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Resources } from "../../src/resources/index.js";

const GIB = 1024 ** 3;

describe("Agent resource detection", () => {
  it("leaves 1 GiB of memory to the system, or half of it on small hosts", () => {
    assert.equal(offeredMemMb(16 * GIB), 15 * 1024);
    assert.equal(offeredMemMb(2 * GIB), 1024);
    assert.equal(offeredMemMb(1 * GIB), 512);
  });

  it("leaves 5 GiB of disk, or half of it below 10 GiB", () => {
    assert.equal(offeredDiskMb(100 * GIB), 95 * 1024);
    assert.equal(offeredDiskMb(8 * GIB), 4 * 1024);
  });

  it("measures this host: every CPU, memory, and the work directory's disk", async () => {
    const facts = await hostFacts(tmpdir());
    assert.ok(facts.cpus >= 1 && facts.memBytes > 0 && facts.diskBytes > 0, JSON.stringify(facts));
    await assert.rejects(hostFacts("/no/such/dir"), (e: unknown) => DcosError.is(e, Code.FAILED_PRECONDITION) && /\/no\/such\/dir/.test(e.message));
  });

  it("lets --resources replace detected resources by name and add new ones", () => {
    const r = Resources.of(agentResources({ cpus: 8, memBytes: 4 * GIB, diskBytes: 20 * GIB }, "cpus:2;ports:[5000-5010];gpus:1"));
    assert.equal(r.scalar("cpus"), 2);
    assert.equal(r.scalar("mem"), 3 * 1024);
    assert.equal(r.scalar("disk"), 15 * 1024);
    assert.equal(r.scalar("gpus"), 1);
    assert.deepEqual(r.ports(), [{ begin: 5000, end: 5010 }]);
    assert.throws(() => agentResources({ cpus: 1, memBytes: GIB, diskBytes: GIB }, "cpus"), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
  });
});

describe("Agent attributes", () => {
  it("parses text, scalar and ranges attributes", () => {
    const a = parseAttributes("rack:a;zone:1;slots:[1-4,8-9]");
    assert.deepEqual(a.map((x) => [x.name, x.type]), [["rack", Value_Type.TEXT], ["zone", Value_Type.SCALAR], ["slots", Value_Type.RANGES]]);
    assert.equal(a[0]!.text?.value, "a");
    assert.equal(a[1]!.scalar?.value, 1);
    assert.deepEqual(a[2]!.ranges?.range.map((r) => [r.begin, r.end]), [[1, 4], [8, 9]]);
    assert.deepEqual(parseAttributes(""), []);
  });

  it("refuses malformed entries with a precise message", () => {
    assert.throws(() => parseAttributes("rack"), /entry 1 'rack' is not name:value/);
    assert.throws(() => parseAttributes("rack:a;rack:b"), /repeats the attribute 'rack'/);
    assert.throws(() => parseAttributes("zone:"), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /empty value/.test(e.message));
  });
});
