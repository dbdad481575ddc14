/**
 * `dcos-node events --nats=URL [--cluster=NAME] [--kind=task] [--since=10m|ISO time] [--json]`:
 * tails the cluster's events from the NATS tap, one line each (or JSON lines).
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { parseDuration } from "./duration.js";
import { addNatsFlags, natsSecurity, type NatsFlags } from "./nats-flags.js";

/** "10m" (that long ago) or an ISO date/time. */
export function parseSince(text: string, now = Date.now()): Date {
  if (/^\d+(\.\d+)?\s*[a-z]*$/i.test(text.trim())) return new Date(now - parseDuration(text));
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`--since takes a duration ("10mins") or a date/time ("2024-05-01T12:00:00Z"), not '${text}'`);
  return new Date(t);
}

export function eventsSubcommand(): Command {
  return addNatsFlags(new Command("events"))
    .description("Tail the cluster's events from NATS (published by masters started with --nats)")
    .requiredOption("--nats <url>", "the NATS server, e.g. nats://127.0.0.1:4222")
    .option("--cluster <name>", "the cluster's name (subjects dcos.<cluster>.events.<kind>)", "dcos")
    .option("--kind <kind>", "only these events: task, agent, framework, offer, status, leader, or a full kind such as task.updated")
    .addOption(new Option("--since <when>", "replay from a time: a duration ago (10mins) or a date/time (needs JetStream)").argParser((v) => parseSince(v)))
    .option("--json", "print JSON lines instead of text", false)
    .action(async (o: NatsFlags & { nats: string; cluster: string; kind?: string; since?: Date; json: boolean }) => {
      // Loaded when the command runs (NATS client, generated types), not for --help/--version.
      const [{ tailEvents }, { subjectFilter }] = await Promise.all([import("../events/tail.js"), import("../events/kinds.js")]);
      try {
        subjectFilter(o.cluster, o.kind);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
      const controller = new AbortController();
      const stop = (): void => controller.abort();
      process.once("SIGINT", stop).once("SIGTERM", stop);
      const security = await natsSecurity(o);
      await tailEvents({ ...(security ? { security } : {}), url: o.nats, cluster: o.cluster, kind: o.kind, since: o.since, json: o.json, write: (line) => process.stdout.write(line + "\n"), signal: controller.signal });
    });
}
