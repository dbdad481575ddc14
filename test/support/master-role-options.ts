import type { startMasterRole } from "../../src/node/master-role.js";
import { silentLogger } from "../../src/runtime/log.js";

/** Options of an in-process master role on loopback for tests (HTTP on a free port, silent). */
export function testMasterRoleOptions(masters: string[], workDir: string, port: number): Parameters<typeof startMasterRole>[0] {
  return {
    masters,
    workDir,
    ip: "127.0.0.1",
    port,
    hostname: "localhost",
    allocator: "hierarchical-drf",
    allocationIntervalMs: 1000,
    offerTimeoutMs: 0,
    agentPingTimeoutMs: 15_000,
    maxAgentPingTimeouts: 5,
    version: "test",
    logger: silentLogger(),
    httpPort: 0,
    cluster: "test",
    flags: {},
  };
}
