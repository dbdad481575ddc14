/**
 * `dcos-node maintenance --master=HOST:PORT schedule [FILE.json|-] | status [--json] | down HOST... | up HOST...`:
 * maintenance windows through the Operator API. FILE is Mesos's schedule JSON
 * (docs/maintenance.md); without it the current schedule is printed in that shape. HOST is
 * a machine's hostname or IP as the schedule names it. Only commander loads with the
 * program; the calls (maintenance-calls.ts) load when one runs.
 */
import { Command } from "commander";
import { withCredentialOptions } from "./credential-options.js";
import type { OperatorTarget } from "./operator-client.js";

export function maintenanceSubcommand(): Command {
  const target = (cmd: Command): OperatorTarget => cmd.optsWithGlobals() as OperatorTarget;
  const calls = () => import("./maintenance-calls.js");
  const maintenance = withCredentialOptions(
    new Command("maintenance")
      .description("Maintenance windows: post the schedule, see who agreed, take machines down and bring them up (Operator API)")
      .requiredOption("--master <host:port>", "the leading master's gRPC address"),
  );
  maintenance
    .command("schedule [file]")
    .description("Replace the schedule with FILE (Mesos's JSON shape; - reads stdin); without FILE, print the schedule")
    .action(async (file: string | undefined, _o, cmd: Command) => (await calls()).schedule(target(cmd), file));
  maintenance
    .command("status")
    .description("Machines with maintenance ahead (and each framework's answer) and machines down")
    .option("--json", "print Mesos's /maintenance/status JSON", false)
    .action(async (o: { json: boolean }, cmd: Command) => (await calls()).status(target(cmd), o.json));
  maintenance
    .command("down <host...>")
    .description("Take scheduled machines down now: their agents are removed and refused until brought up")
    .action(async (hosts: string[], _o, cmd: Command) => (await calls()).down(target(cmd), hosts));
  maintenance
    .command("up <host...>")
    .description("Bring machines that are down up again; they leave the schedule")
    .action(async (hosts: string[], _o, cmd: Command) => (await calls()).up(target(cmd), hosts));
  return maintenance;
}
