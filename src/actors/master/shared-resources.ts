/**
 * The resources of the tasks a master adopts from reregistering agents, shared between
 * tasks that hold equal ones. After a failover the new leader keeps every task an agent
 * reports, as decoded; two thirds of a task's objects are its resources (a Resource, its
 * Scalar, AllocationInfo and reservations list, per resource), and thousands of tasks hold
 * the same few ("cpus:0.1 allocated to *"). Keeping one object for each such resource instead
 * of one per task is less for the collector to copy and promote while 250,000 tasks arrive
 * (docs/scale.md, "Session 10").
 *
 * Only plain resources are shared: a scalar with a name, possibly allocated to a role,
 * nothing else set (no reservation, disk, ranges, set or unknown fields). The master never
 * changes a task's resources in place (they are replaced or read), so a shared object is
 * as good as the task's own. A field added to these messages later turns the sharing off
 * (SHAREABLE) rather than merging resources that differ in it.
 */
import { Value_ScalarSchema, Value_Type } from "../../gen/dcos/v1/common_pb.js";
import { AllocationInfoSchema, ResourceSchema, type Resource } from "../../gen/dcos/v1/resources_pb.js";

const names = (fields: ReadonlyArray<{ localName: string }>): string[] => fields.map((f) => f.localName).sort();

/** Resource's fields a plain resource may set; every other one must be unset (undefined: they are messages). */
const PLAIN_FIELDS = new Set(["name", "type", "scalar", "allocationInfo", "reservations"]);
const OTHER_FIELDS = ResourceSchema.fields.filter((f) => !PLAIN_FIELDS.has(f.localName));

/** The messages as this file knows them; otherwise nothing is shared. */
const SHAREABLE =
  OTHER_FIELDS.every((f) => f.fieldKind === "message") &&
  names(Value_ScalarSchema.fields).join() === "value" &&
  names(AllocationInfoSchema.fields).join() === "role";

/** The key of a plain resource (equal keys: equal resources), or undefined when it is not one. */
function plainKey(r: Resource): string | undefined {
  if (r.type !== Value_Type.SCALAR || r.reservations.length > 0 || r.$unknown !== undefined) return undefined;
  const scalar = r.scalar;
  if (scalar === undefined || scalar.$unknown !== undefined || Object.is(scalar.value, -0)) return undefined;
  for (const f of OTHER_FIELDS) if ((r as unknown as Record<string, unknown>)[f.localName] !== undefined) return undefined;
  const a = r.allocationInfo;
  if (a !== undefined && a.$unknown !== undefined) return undefined;
  return `${r.name}\u0000${scalar.value}\u0000${a === undefined ? "-" : `+${a.role}`}`;
}

export class SharedResources {
  private readonly byKey = new Map<string, Resource>();

  /** At most `max` distinct resources are kept (beyond it, new ones stay the task's own). */
  constructor(private readonly max = 4096) {}

  /** Replaces, in `list`, each plain resource by the shared one equal to it (the first seen becomes the shared one). */
  share(list: Resource[]): void {
    if (!SHAREABLE) return;
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      const key = plainKey(r);
      if (key === undefined) continue;
      const shared = this.byKey.get(key);
      if (shared !== undefined) list[i] = shared;
      else if (this.byKey.size < this.max) this.byKey.set(key, r);
    }
  }

  get size(): number {
    return this.byKey.size;
  }
}
