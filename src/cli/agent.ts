/**
 * `dcos-node agent --master=HOST:PORT drain ID [--max-grace-period=30secs] [--mark-gone] | deactivate ID | reactivate ID`:
 * takes an agent out of service through the Operator API (drain kills its tasks, then it is DRAINED).
 * Only commander loads with the program; the call loads when one runs.
 */
import { Command, Option } from "commander";
import { withCredentialOptions } from "./credential-options.js";
import { parseDuration } from "./duration.js";
import type { OperatorTarget } from "./operator-client.js";

export function agentSubcommand(): Command {
  const target = (cmd: Command): OperatorTarget => cmd.optsWithGlobals() as OperatorTarget;
  const call = async (cmd: Command, name: "drainAgent" | "deactivateAgent" | "reactivateAgent", request: object, done: string): Promise<void> => {
    const { operatorCall } = await import("./operator-client.js");
    await operatorCall(target(cmd), name, request as never);
    console.log(done);
  };
  const agent = withCredentialOptions(
    new Command("agent").description("Take an agent out of service (drain, deactivate) or back in (reactivate) through the Operator API").requiredOption("--master <host:port>", "the leading master's gRPC address"),
  );
  agent
    .command("drain <agent-id>")
    .description("Stop offering the agent and kill its tasks; it is DRAINED once none is left")
    .addOption(new Option("--max-grace-period <duration>", "cap every task's kill grace period (e.g. 30secs)").argParser(parseDuration))
    .option("--mark-gone", "mark the agent gone once drained (it may never come back under its id)", false)
    .action(async (id: string, o: { maxGracePeriod?: number; markGone: boolean }, cmd: Command) =>
      call(cmd, "drainAgent", { agentId: { value: id }, maxGracePeriodSeconds: o.maxGracePeriod === undefined ? undefined : o.maxGracePeriod / 1000, markGone: o.markGone }, `Draining agent ${id}`),
    );
  agent
    .command("deactivate <agent-id>")
    .description("Stop offering the agent; its tasks keep running")
    .action(async (id: string, _o, cmd: Command) => call(cmd, "deactivateAgent", { agentId: { value: id } }, `Deactivated agent ${id}`));
  agent
    .command("reactivate <agent-id>")
    .description("End a deactivation or drain: the agent is offered again")
    .action(async (id: string, _o, cmd: Command) => call(cmd, "reactivateAgent", { agentId: { value: id } }, `Reactivated agent ${id}`));
  return agent;
}
