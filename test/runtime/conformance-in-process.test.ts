import { ManualClock } from "../../src/runtime/clock.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { InProcessNetwork } from "../../src/runtime/transports/in-process.js";
import { transportConformance } from "./transport-conformance.js";

transportConformance("in-process", { envelopes: false, frames: false }, async () => {
  const clock = new ManualClock();
  const net = new InProcessNetwork();
  const systems: ActorSystem[] = [];
  let n = 0;
  return {
    name: "in-process",
    async node(options = {}) {
      const system = new ActorSystem({ clock, transport: net.transport(options.address ?? `node-${++n}`) });
      await system.start();
      systems.push(system);
      return system;
    },
    until: (cond, what) => clock.advanceUntil(cond, 60_000).catch((e: Error) => Promise.reject(new Error(`${what}: ${e.message}`))),
    async close() {
      for (const s of systems) await s.stop();
    },
  };
});
