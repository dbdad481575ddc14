import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Value_Type } from "../../gen/dcos/v1/common_pb.js";
import { FiltersSchema, type Filters, type Offer } from "../../gen/dcos/v1/offers_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { KillPolicySchema, TaskInfoSchema, type TaskInfo } from "../../gen/dcos/v1/tasks_pb.js";
import { takeRanges, countRanges } from "../../resources/ranges.js";
import { isReserved, withRanges, withScalar } from "../../resources/resource.js";
import { Resources } from "../../resources/resources.js";
import { isRoleOrDescendant } from "../../resources/roles.js";
import { fromMillis, toMillis } from "../../resources/scalar.js";
import { Code, DcosError } from "../../runtime/error.js";
import { Random } from "../../runtime/random.js";

/** What a task needs: scalars by name (cpus, mem in MB, disk in MB, gpus, …) and a number of ports. */
export interface ResourceRequest {
  cpus?: number;
  mem?: number;
  disk?: number;
  gpus?: number;
  /** How many ports (taken from the low end of the offer's port ranges). */
  ports?: number;
  /** Other scalar resources by name. */
  scalars?: Record<string, number>;
}

function scalarsOf(want: ResourceRequest): [string, number][] {
  const named: [string, number | undefined][] = [
    ["cpus", want.cpus],
    ["mem", want.mem],
    ["disk", want.disk],
    ["gpus", want.gpus],
    ...Object.entries(want.scalars ?? {}),
  ];
  const out: [string, number][] = [];
  for (const [name, amount] of named) {
    if (amount === undefined || amount === 0) continue;
    if (!Number.isFinite(amount) || amount < 0) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid amount of ${name}: ${amount} (must be a finite number >= 0)`);
    }
    out.push([name, amount]);
  }
  return out;
}

/**
 * Offered resources usable by a task of `role` (any role when undefined), resources reserved
 * to the role first so reservations are used before the shared pool.
 */
function usable(offer: Offer, role: string | undefined): Resource[] {
  const all = [...Resources.of(offer.resources)];
  const fits = (r: Resource): boolean => {
    if (role === undefined) return true;
    const allocated = r.allocationInfo?.role;
    if (allocated && allocated !== role) return false;
    const top = r.reservations[r.reservations.length - 1]?.role;
    return top === undefined || isRoleOrDescendant(role, top);
  };
  const candidates = all.filter(fits);
  return [...candidates.filter(isReserved), ...candidates.filter((r) => !isReserved(r))];
}

/**
 * Picks exactly what `want` asks for out of an offer (keeping each piece's reservation and
 * allocation role), or undefined if the offer does not have it. The result can be given
 * to a TaskInfo as is.
 */
export function pickResources(offer: Offer, want: ResourceRequest, role?: string): Resource[] | undefined {
  const pool = usable(offer, role);
  const picked: Resource[] = [];
  for (const [name, amount] of scalarsOf(want)) {
    let left = toMillis(amount);
    for (const r of pool) {
      if (left <= 0) break;
      if (r.name !== name || r.type !== Value_Type.SCALAR || r.disk?.persistence) continue;
      const take = Math.min(left, toMillis(r.scalar?.value ?? 0));
      if (take <= 0) continue;
      picked.push(withScalar(r, fromMillis(take)));
      left -= take;
    }
    if (left > 0) return undefined;
  }
  let ports = want.ports ?? 0;
  if (!Number.isInteger(ports) || ports < 0) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid number of ports: ${want.ports}`);
  for (const r of pool) {
    if (ports <= 0) break;
    if (r.name !== "ports" || r.type !== Value_Type.RANGES) continue;
    const taken = takeRanges(r.ranges?.range ?? [], ports);
    if (taken.length === 0) continue;
    picked.push(withRanges(r, taken));
    ports -= countRanges(taken);
  }
  return ports > 0 ? undefined : picked;
}

/** Whether the offer has what `want` asks for. */
export function offerFits(offer: Offer, want: ResourceRequest, role?: string): boolean {
  return pickResources(offer, want, role) !== undefined;
}

export interface CommandTaskOptions {
  /** A shell line (run with /bin/sh -c), or argv (run directly, argv[0] included). */
  command: string | readonly string[];
  /** The offer the task runs in: gives the agent. */
  offer: Offer;
  /** The task's resources, e.g. from pickResources. */
  resources: Resource[];
  name?: string;
  /** Default: name plus a random suffix. */
  taskId?: string;
  env?: Record<string, string>;
  /** Run as this user (default: the framework's). */
  user?: string;
  /** SIGTERM → SIGKILL grace period. */
  killGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  /** Draws the task id's uuid when taskId is not given (the framework's seeded source; default: this process's, seeded from the OS). */
  random?: Random;
}

let processSource: Random | undefined;

/** This process's source for ids when the caller injects none: one seed per process, so ids differ across processes. */
function processRandom(): Random {
  return (processSource ??= Random.fromOs());
}

/** A command task (run by the agent's command executor) on the offer's agent. */
export function commandTask(options: CommandTaskOptions): TaskInfo {
  const argv = typeof options.command === "string" ? undefined : [...options.command];
  const line = typeof options.command === "string" ? options.command : "";
  if ((argv && argv.length === 0) || (!argv && line.trim() === "")) {
    throw new DcosError(Code.INVALID_ARGUMENT, "Cannot build a command task without a command");
  }
  const name = options.name ?? "task";
  const task: MessageInitShape<typeof TaskInfoSchema> = {
    name,
    taskId: { value: options.taskId ?? `${name}.${(options.random ?? processRandom()).uuid()}` },
    agentId: options.offer.agentId,
    resources: options.resources,
    command: {
      shell: argv === undefined,
      value: argv ? argv[0]! : line,
      arguments: argv ?? [],
      user: options.user ?? "",
      environment: { variables: Object.entries(options.env ?? {}).map(([name, value]) => ({ name, value })) },
    },
    labels: { labels: Object.entries(options.labels ?? {}).map(([key, value]) => ({ key, value })) },
  };
  if (options.killGracePeriodSeconds !== undefined) {
    task.killPolicy = create(KillPolicySchema, { gracePeriodSeconds: options.killGracePeriodSeconds });
  }
  return create(TaskInfoSchema, task);
}

/** Filters that keep the declined resources away for `seconds`. */
export function refuseFor(seconds: number): Filters {
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid refuse_seconds: ${seconds} (must be a finite number >= 0)`);
  }
  return create(FiltersSchema, { refuseSeconds: seconds });
}
