/**
 * The agent flag `--isolation=posix|cgroups,namespaces`: "posix" alone is no isolator;
 * otherwise a comma-separated list of isolators, applied in the order cgroups, namespaces.
 */
import type { Logger } from "../runtime/log.js";
import { Code, DcosError } from "../runtime/error.js";
import { CgroupsIsolator, hostCgroupDriver, type CgroupHostOptions } from "./cgroups.js";
import type { Isolator } from "./isolator.js";
import { NamespacesIsolator } from "./namespaces.js";

export type IsolatorName = "cgroups" | "namespaces";
const KNOWN: readonly IsolatorName[] = ["cgroups", "namespaces"];

/** Parses the flag's value into isolator names (posix → none). */
export function parseIsolationFlag(value: string): IsolatorName[] {
  const names = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "Invalid --isolation: it is empty; use 'posix' or a list such as 'cgroups,namespaces'");
  const chosen = new Set<IsolatorName>();
  for (const name of names) {
    if (name === "posix") continue;
    if (!KNOWN.includes(name as IsolatorName)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid --isolation: unknown isolator '${name}'; known: posix, ${KNOWN.join(", ")}`);
    }
    chosen.add(name as IsolatorName);
  }
  return KNOWN.filter((n) => chosen.has(n));
}

export interface IsolatorOptions extends CgroupHostOptions {
  cpuQuota?: boolean;
  pidsLimit?: number;
  logger?: Logger;
}

/** The isolators the flag names, ready for the posix containerizer. */
export async function isolatorsFor(flag: string, options: IsolatorOptions = {}): Promise<Isolator[]> {
  const isolators: Isolator[] = [];
  for (const name of parseIsolationFlag(flag)) {
    if (name === "cgroups") {
      isolators.push(new CgroupsIsolator({ ...options, driver: await hostCgroupDriver(options) }));
    } else {
      isolators.push(new NamespacesIsolator());
    }
  }
  return isolators;
}
