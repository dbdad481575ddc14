/**
 * Simulated agents in their own process for the failover benchmark:
 *
 *   node dist/test/bench/sim-agents-process.js --masters=a:p,b:p,c:p [--agents=100] [--resources=cpus:2;mem:1024] [--task-ms=0]
 *
 * One gRPC transport on 127.0.0.1 (a free port), `--agents` SimAgents on it (agent0…, each its
 * own pid and, once registered, its own agent id) following the masters' leadership. Prints
 * "registered N" once all have registered; stops on SIGTERM.
 */
import { SimAgent } from "./sim-agent.js";
import { parseResources } from "../../src/resources/parse.js";
import { startNode } from "../../src/node/node.js";
import { createLogger } from "../../src/runtime/log.js";
import { Pid } from "../../src/runtime/pid.js";

const opt = (name: string, dflt: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const masters = opt("masters", "")
  .split(",")
  .filter((m) => m !== "")
  .map((m) => Pid.parse(`master@${m}`));
if (masters.length === 0) throw new Error("--masters=host:port,… is required");
const count = Number(opt("agents", "100"));
const resources = parseResources(opt("resources", "cpus:2;mem:1024")).toProto();
// Tasks finish (TASK_FINISHED) after this long; 0 keeps them running.
const taskMs = Number(opt("task-ms", "0"));

// A node as an agent's: the gRPC transport knowing internal.proto; warnings to stderr.
const node = await startNode({ ip: "127.0.0.1", port: 0, logger: createLogger({ level: "warn" }) });
const agents = Array.from({ length: count }, (_, i) => new SimAgent(`agent${i}`, `sim-host-${i}`, resources, masters, taskMs));
for (const a of agents) node.system.spawn(a);
const poll = setInterval(() => {
  if (agents.every((a) => a.agentId !== "")) {
    clearInterval(poll);
    process.stdout.write(`registered ${count}\n`);
  }
}, 20);
process.on("SIGTERM", () => {
  clearInterval(poll);
  void node.stop().finally(() => process.exit(0));
});
