/**
 * What an agent offers when nothing says otherwise, as Mesos computes it: every CPU; the
 * memory less 1 GiB for the system (half of it on hosts with under 2 GiB); the disk of the
 * work directory's file system less 5 GiB (half of it under 10 GiB); ports 31000-32000.
 * An entry of `--resources` replaces the detected resource of the same name.
 */
import { statfs } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { asDcosError, Code } from "../../runtime/error.js";
import { parseResources, rangesResource, Resources, scalarResource } from "../../resources/index.js";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

export const DEFAULT_PORTS = { begin: 31000, end: 32000 } as const;

export interface HostFacts {
  cpus: number;
  memBytes: number;
  diskBytes: number;
}

/** Memory the agent offers: total less 1 GiB, or half of it below 2 GiB. In MiB. */
export function offeredMemMb(totalBytes: number): number {
  const bytes = totalBytes >= 2 * GIB ? totalBytes - GIB : totalBytes / 2;
  return Math.floor(bytes / MIB);
}

/** Disk the agent offers: total less 5 GiB, or half of it below 10 GiB. In MiB. */
export function offeredDiskMb(totalBytes: number): number {
  const bytes = totalBytes >= 10 * GIB ? totalBytes - 5 * GIB : totalBytes / 2;
  return Math.floor(bytes / MIB);
}

export async function hostFacts(workDir: string): Promise<HostFacts> {
  let diskBytes: number;
  try {
    const fs = await statfs(workDir);
    diskBytes = fs.blocks * fs.bsize;
  } catch (err) {
    throw asDcosError(err, Code.FAILED_PRECONDITION, `Cannot measure the disk of work directory ${workDir}`);
  }
  return { cpus: cpus().length, memBytes: totalmem(), diskBytes };
}

/** The detected resources, with the flag's entries replacing those of the same name. */
export function agentResources(facts: HostFacts, flag?: string): Resource[] {
  const detected = Resources.of([
    scalarResource("cpus", facts.cpus),
    scalarResource("mem", offeredMemMb(facts.memBytes)),
    scalarResource("disk", offeredDiskMb(facts.diskBytes)),
    rangesResource("ports", [DEFAULT_PORTS]),
  ]);
  if (flag === undefined || flag.trim() === "") return detected.toProto();
  const given = parseResources(flag);
  const named = new Set(given.toProto().map((r) => r.name));
  return detected.filter((r) => !named.has(r.name)).add(given).toProto();
}
