import type { JobSpec } from "./job-spec.js";

/** What the jobs scheduler needs of an offer (the framework adapts the protobuf one). */
export interface JobOffer {
  id: string;
  agentId: string;
  hostname: string;
  cpus: number;
  mem: number;
  disk: number;
  /** Text values of the agent's attributes (hostname is implied, as in Chronos). */
  attributes: Record<string, string>;
}

/** Why the spec does not fit what is left of the offer, or undefined when it fits. */
export function misfit(spec: Pick<JobSpec, "cpus" | "mem" | "disk" | "constraints">, offer: JobOffer): string | undefined {
  if (offer.cpus + 1e-9 < spec.cpus) return `insufficient cpus (${spec.cpus} > ${round(offer.cpus)})`;
  if (offer.mem + 1e-9 < spec.mem) return `insufficient mem (${spec.mem} > ${round(offer.mem)})`;
  if (offer.disk + 1e-9 < spec.disk) return `insufficient disk (${spec.disk} > ${round(offer.disk)})`;
  for (const [attr, op, value] of spec.constraints) {
    const actual = attr === "hostname" ? (offer.attributes["hostname"] ?? offer.hostname) : offer.attributes[attr];
    const ok =
      op === "EQUALS" ? actual === value : op === "LIKE" ? actual !== undefined && fullMatch(value, actual) : actual === undefined || !fullMatch(value, actual);
    if (!ok) return `constraint ${attr} ${op} ${value} not met (${attr}=${actual ?? "unset"})`;
  }
  return undefined;
}

const fullMatch = (pattern: string, s: string) => new RegExp(`^(?:${pattern})$`).test(s);
const round = (n: number) => Math.round(n * 1000) / 1000;

/** Takes the spec's resources out of what is left of the offer. */
export function consume(offer: JobOffer, spec: Pick<JobSpec, "cpus" | "mem" | "disk">): void {
  offer.cpus -= spec.cpus;
  offer.mem -= spec.mem;
  offer.disk -= spec.disk;
}
