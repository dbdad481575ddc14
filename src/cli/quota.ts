/**
 * `dcos-node quota --master=HOST:PORT show | set ROLE [--guarantee=SPEC] [--limit=SPEC] [--force] | remove ROLE`:
 * role quota through the Operator API (SPEC as for --resources, scalars only: "cpus:4;mem:8192").
 * Only commander loads with the program; the calls (quota-calls.ts) load when one runs.
 */
import { Command, InvalidArgumentError } from "commander";
import { withCredentialOptions } from "./credential-options.js";
import type { OperatorTarget } from "./operator-client.js";

export function quotaSubcommand(): Command {
  const target = (cmd: Command): OperatorTarget => cmd.optsWithGlobals() as OperatorTarget;
  const calls = () => import("./quota-calls.js");
  const quota = withCredentialOptions(
    new Command("quota").description("Show or change role quota (guarantees and limits) through the Operator API").requiredOption("--master <host:port>", "the leading master's gRPC address"),
  );
  quota
    .command("show")
    .description("List every role's quota")
    .action(async (_o, cmd: Command) => (await calls()).showQuota(target(cmd)));
  quota
    .command("set <role>")
    .description("Set a role's quota (replacing what it had)")
    .option("--guarantee <spec>", 'resources set aside for the role, e.g. "cpus:4;mem:8192"')
    .option("--limit <spec>", "the most the role may hold")
    .option("--force", "accept guarantees beyond what the cluster has", false)
    .action(async (role: string, o: { guarantee?: string; limit?: string; force: boolean }, cmd: Command) => {
      if (o.guarantee === undefined && o.limit === undefined) throw new InvalidArgumentError("set needs --guarantee and/or --limit (use remove to drop a quota)");
      await (await calls()).setQuota(target(cmd), role, o.guarantee, o.limit, o.force);
    });
  quota
    .command("remove <role>")
    .description("Remove a role's quota")
    .action(async (role: string, _o, cmd: Command) => (await calls()).removeQuota(target(cmd), role));
  return quota;
}
