/**
 * `dcos-node run-service --master=a,b,c [--http-port=4480] [--tls-cert=… --tls-key=… --tls-ca=…] [--max-runs=500] [--max-runs-per-principal=100]`:
 * one instance of the run service `dcos-node run` talks to (src/frameworks/run). Run several:
 * one leads (a lease in the masters' replicated log), the others answer 307 to it. Clients
 * find it with `dcos-node run --run-url=https://host:4480` or $DCOS_NODE_RUN_URL.
 */
import { Option, type Command } from "commander";
import { parseCount, parseDuration } from "./duration.js";
import { frameworkInstanceCommand, frameworkInstanceSetup, type FrameworkInstanceFlags } from "./framework-instance.js";

interface RunServiceFlags extends FrameworkInstanceFlags {
  role: string;
  offerHold: number;
  maxRuns: number;
  maxRunsPerPrincipal: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

export const DEFAULT_RUN_SERVICE_PORT = 4480;

export function runServiceSubcommand(): Command {
  return frameworkInstanceCommand("run-service", "Run the run service: the framework that launches `dcos-node run`'s one-off tasks and streams their states and output over HTTP(S)", {
    httpPort: DEFAULT_RUN_SERVICE_PORT,
    httpPortHelp: "the API's port (0 picks one)",
    aclsHelp: "ACLs in Mesos's JSON shape (run_tasks, register_frameworks)",
  })
    .option("--role <role>", "the role the runs' tasks take resources as", "*")
    .addOption(new Option("--offer-hold <duration>", "how long one offer is kept after a run before the service suppresses").argParser(parseDuration).default(10_000, "10secs"))
    .addOption(new Option("--max-runs <n>", "runs in progress at once, all callers together; one more is refused with HTTP 429 and Retry-After (0: no limit)").argParser(parseCount).default(500))
    .addOption(new Option("--max-runs-per-principal <n>", "runs in progress at once per principal (anonymous callers count as one); one more is refused with HTTP 429 (0: no limit)").argParser(parseCount).default(100))
    .option("--tls-cert <file>", "serve HTTPS with this certificate (PEM; with --tls-key and --tls-ca)")
    .option("--tls-key <file>", "its private key")
    .option("--tls-ca <file>", "the cluster CA: clients' certificates it signed authenticate their principal")
    .action(async (o: RunServiceFlags) => {
      const tlsFlags = [o.tlsCert, o.tlsKey, o.tlsCa].filter((f) => f !== undefined).length;
      if (tlsFlags !== 0 && tlsFlags !== 3) throw new Error("--tls-cert, --tls-key and --tls-ca go together");
      const [{ RunServer }, { readFile }] = await Promise.all([import("../frameworks/run/run-server.js"), import("node:fs/promises")]);
      const { masters, logger, credential, security } = await frameworkInstanceSetup(o);
      const https = tlsFlags === 3 ? { cert: await readFile(o.tlsCert!, "utf8"), key: await readFile(o.tlsKey!, "utf8"), ca: await readFile(o.tlsCa!, "utf8") } : undefined;
      const server = await RunServer.start({
        masters,
        host: o.ip,
        httpPort: o.httpPort,
        role: o.role,
        offerHoldMs: o.offerHold,
        maxRuns: o.maxRuns,
        maxRunsPerPrincipal: o.maxRunsPerPrincipal,
        leaseTtlMs: o.leaseTtl,
        logger,
        security,
        ...(https ? { https } : {}),
        ...(o.advertise ? { advertise: o.advertise } : {}),
        ...(credential ? { credential, principal: credential.principal } : {}),
      });
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve).once("SIGTERM", resolve);
      });
      logger.info("Stopping the run service instance (another takes over the lease)");
      await server.stop();
    });
}
