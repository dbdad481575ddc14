/**
 * `dcos-node jobs --master=a,b,c [--http-port=4400] [--ip=127.0.0.1]`: one instance of the
 * Chronos-compatible jobs framework. Run several: one leads (a lease in the masters'
 * replicated log), the others proxy its API.
 */
import { Command, Option } from "commander";
import { withCredentialOptions } from "./credential-options.js";
import { parseDuration, parsePort } from "./duration.js";

interface JobsFlags {
  master: string;
  ip: string;
  httpPort: number;
  advertise?: string;
  role: string;
  leaseTtl: number;
  principal?: string;
  secret?: string;
  credentialFile?: string;
  credentials?: string;
  acls?: string;
  authenticate?: boolean;
  logLevel: "info";
}

export function jobsSubcommand(): Command {
  return withCredentialOptions(
    new Command("jobs")
      .description("Run the jobs framework (Chronos's job JSON and REST API): scheduled and dependent jobs, each due run exactly once across failovers")
      .requiredOption("--master <list>", "the masters, comma-separated host:port")
      .option("--ip <ip>", "address the API listens on", "127.0.0.1")
      .addOption(new Option("--http-port <port>", "the API's port (Chronos's 4400; 0 picks one)").argParser(parsePort).default(4400))
      .option("--advertise <host:port>", "the address other instances and the web UI reach this API at (default --ip and the port)")
      .option("--role <role>", "the role the jobs' tasks run in", "*")
      .addOption(new Option("--lease-ttl <duration>", "how long a silent leader keeps the lease").argParser(parseDuration).default(10_000, "10secs"))
      .option("--credentials <file>", "API callers' principals and secrets (Mesos's credentials JSON, mode 0600)")
      .option("--acls <file>", "ACLs in Mesos's JSON shape")
      .option("--authenticate", "refuse unauthenticated API callers (default: when --credentials is given)")
      .option("--no-authenticate", "serve unauthenticated API callers even with --credentials")
      .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info")),
  ).action(async (o: JobsFlags) => {
    const [{ JobsServer }, { createLogger }, { resolveClientCredential }, { loadSecurityConfig }] = await Promise.all([
      import("../frameworks/jobs/jobs-server.js"),
      import("../runtime/log.js"),
      import("../security/auth/client-credential.js"),
      import("../security/auth/security-config.js"),
    ]);
    const logger = createLogger({ level: o.logLevel });
    const masters = o.master.split(",").map((m) => m.trim()).filter((m) => m !== "");
    const credential = await resolveClientCredential(o);
    const server = await JobsServer.start({
      masters,
      host: o.ip,
      httpPort: o.httpPort,
      role: o.role,
      leaseTtlMs: o.leaseTtl,
      logger,
      security: await loadSecurityConfig(o),
      ...(o.advertise ? { advertise: o.advertise } : {}),
      ...(credential ? { credential, principal: credential.principal } : {}),
    });
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve).once("SIGTERM", resolve);
    });
    logger.info("Stopping the jobs instance (another takes over the lease)");
    await server.stop();
  });
}
