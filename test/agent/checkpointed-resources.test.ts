import assert from "node:assert/strict";
import { access, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { ReservationInfo_Type, ResourceSchema, type Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import { checkpointResources, readCheckpointedResources } from "../../src/actors/agent/checkpointed-resources.js";
import { volumeDir } from "../../src/actors/agent/volumes.js";
import { NodeFileSystem } from "../../src/runtime/file-system.js";

const fs = new NodeFileSystem();

function volume(id: string): Resource {
  return create(ResourceSchema, {
    name: "disk",
    type: Value_Type.SCALAR,
    scalar: { value: 10 },
    reservations: [{ type: ReservationInfo_Type.DYNAMIC, role: "r", principal: "p" }],
    disk: { persistence: { id, principal: "p" }, volume: { containerPath: "data" } },
  });
}

const exists = (p: string) => access(p).then(() => true, () => false);

describe("checkpointed resources", () => {
  it("reserve then unreserve in quick succession: both checkpoints apply in order (no shared temp file), volumes end as the last says, owner-only", async () => {
    const work = await mkdtemp(join(tmpdir(), "checkpointed-resources-"));
    try {
      const v = volume("v1");
      for (let round = 0; round < 20; round++) {
        // CREATE then DESTROY without waiting, as the agent does when the master sends both at once.
        const created = checkpointResources(fs, work, [], [v]);
        const destroyed = checkpointResources(fs, work, [v], []);
        await Promise.all([created, destroyed]);
        assert.deepEqual(await readCheckpointedResources(fs, work), [], `round ${round}: the file says what the last checkpoint said`);
        assert.equal(await exists(volumeDir(work, v)), false, `round ${round}: the destroyed volume's directory is gone`);
      }
      await checkpointResources(fs, work, [], [v]);
      assert.equal((await readCheckpointedResources(fs, work)).length, 1);
      assert.ok(await exists(volumeDir(work, v)));
      assert.deepEqual((await readdir(join(work, "meta"))).filter((n) => n.includes(".tmp")), [], "no temp files left behind");
      assert.equal((await stat(join(work, "meta", "resources.json"))).mode & 0o777, 0o600);
      assert.match(await readFile(join(work, "meta", "resources.json"), "utf8"), /"v1"/);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
