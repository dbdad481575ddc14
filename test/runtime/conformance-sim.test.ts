import { ManualClock } from "../../src/runtime/clock.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { SimNetwork, type SimTransport } from "../../src/runtime/transports/sim-network.js";
import { transportConformance } from "./transport-conformance.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(20240601);

transportConformance(`simulated network (seed ${SEED})`, { envelopes: true, frames: false }, async () => {
  const clock = new ManualClock(0);
  const net = new SimNetwork({ clock, seed: SEED, faults: { minDelayMs: 1, maxDelayMs: 20 } });
  const systems = new Map<ActorSystem, SimTransport>();
  let n = 0;
  return {
    name: "sim",
    async node(options = {}) {
      const transport = net.transport(options.address ?? `node-${++n}`);
      const system = new ActorSystem({ clock, transport });
      await system.start();
      systems.set(system, transport);
      return system;
    },
    until: (cond, what) =>
      clock.advanceUntil(cond, 60_000).catch((e: Error) => Promise.reject(new Error(`${what} (seed ${SEED}): ${e.message}`))),
    async inject(to, envelopes, fromAddress) {
      for (const env of envelopes) systems.get(to)!.inject(env, fromAddress);
    },
    async close() {
      for (const s of systems.keys()) await s.stop();
    },
  };
});
