/**
 * `dcos-node jobs --master=a,b,c [--http-port=4400] [--ip=127.0.0.1]`: one instance of the
 * Chronos-compatible jobs framework. Run several: one leads (a lease in the masters'
 * replicated log), the others proxy its API.
 */
import type { Command } from "commander";
import { frameworkInstanceCommand, frameworkInstanceSetup, type FrameworkInstanceFlags } from "./framework-instance.js";

interface JobsFlags extends FrameworkInstanceFlags {
  role: string;
}

export function jobsSubcommand(): Command {
  return frameworkInstanceCommand(
    "jobs",
    "Run the jobs framework (Chronos's job JSON and REST API): scheduled and dependent jobs, each due run exactly once across failovers",
    { httpPort: 4400, httpPortHelp: "the API's port (Chronos's 4400; 0 picks one)", aclsHelp: "ACLs in Mesos's JSON shape" },
  )
    .option("--role <role>", "the role the jobs' tasks run in", "*")
    .action(async (o: JobsFlags) => {
      const { JobsServer } = await import("../frameworks/jobs/jobs-server.js");
      const { masters, logger, credential, security } = await frameworkInstanceSetup(o);
      const server = await JobsServer.start({
        masters,
        host: o.ip,
        httpPort: o.httpPort,
        role: o.role,
        leaseTtlMs: o.leaseTtl,
        logger,
        security,
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
