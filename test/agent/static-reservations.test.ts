import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { Agent } from "../../src/actors/agent/agent.js";
import { Resources } from "../../src/resources/index.js";
import { testLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { Cluster } from "../master/harness.js";
import { FakeContainerizer } from "../support/fake-containerizer.js";
import { waitFor } from "../support/wait.js";

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

/** A real master and allocator (the master harness) and a real agent given `--resources`. */
async function clusterWithAgent(resources: string): Promise<Cluster> {
  const c = await Cluster.start({ agents: 0 });
  const workDir = await mkdtemp(join(tmpdir(), "dcos-static-"));
  const system = new ActorSystem({ clock: c.clock, transport: c.network.transport("agent-host:5051"), logger: testLogger() });
  await system.start();
  system.spawn(
    new Agent({
      master: c.master.self,
      workDir,
      resources,
      containerizer: new FakeContainerizer(),
      executorEndpoint: "127.0.0.1:1",
      hostFacts: { cpus: 8, memBytes: 16 * 1024 ** 3, diskBytes: 100 * 1024 ** 3 },
      hostname: "agent-host",
      random: new Random(3),
      commandExecutor: "process",
    }),
  );
  stop = async () => {
    await system.stop();
    await c.stop();
    await rm(workDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
  };
  await waitFor(async () => {
    await c.clock.settle();
    return c.metric("master/slaves_active") === 1 || undefined;
  }, "the agent registered");
  return c;
}

const offered = (offers: { resources: Parameters<typeof Resources.of>[0] }[]): string =>
  String(offers.reduce((sum, o) => sum.add(Resources.of(o.resources).unallocated()), Resources.empty()));

describe("static reservations from the agent's --resources", () => {
  it('--resources="cpus(ops):2;mem(ops):1024" is offered only to role ops', async () => {
    const c = await clusterWithAgent("cpus(ops):2;mem(ops):1024");
    const dev = await c.subscribe("dev-fw", { roles: ["dev"] });
    const ops = await c.subscribe("ops-fw", { roles: ["ops"] });
    await c.allocate();
    const devOffers = offered(dev.sink.offers());
    const opsOffers = ops.sink.offers();
    assert.ok(dev.sink.offers().length > 0, "dev was offered the unreserved disk and ports");
    assert.doesNotMatch(devOffers, /cpus|mem/, `role dev is never offered the reserved cpus and mem: ${devOffers}`);
    assert.ok(opsOffers.length > 0, "ops got offers");
    const opsOffer = String(Resources.of(opsOffers[0]!.resources).unallocated());
    assert.match(opsOffer, /cpus\(ops\):2/, opsOffer);
    assert.match(opsOffer, /mem\(ops\):1024/, opsOffer);
    for (const o of opsOffers) for (const r of o.resources) assert.equal(r.allocationInfo?.role, "ops");
  });
});
