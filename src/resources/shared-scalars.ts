/**
 * Shared values for the arithmetic of `Resources` (resources.ts): the strings that name a
 * kind of resource, and the scalar results of a sum or a difference. After a failover the
 * allocator's books hold tens of thousands of agents' free resources and what each
 * framework holds there, each a computed Resource: on a cluster of like agents running like
 * tasks they are the same few values ("cpus:7.5" free on each agent), and a new message
 * each was 100,000 Resources, their Value.Scalars and their keys' strings kept by a new
 * leader at 10,000 agents. Resources are immutable values (never mutated once made), so one
 * message can stand for all of them and nothing can tell.
 *
 * Bounded: each table starts over when it reaches its limit (what was handed out stays
 * valid; only later results stop being shared with earlier ones), so a cluster whose values
 * never repeat keeps at most the limit.
 */
import type { Resource } from "../gen/dcos/v1/resources_pb.js";

/** Distinct kind keys kept (each a short string). */
const KEY_LIMIT = 10_000;
/** Distinct scalar values kept over all kinds (each a Resource with its Value.Scalar, ~200 bytes with its entry). */
export const SHARED_SCALARS_LIMIT = 20_000;

const keys = new Map<string, string>();

/** The one copy of a kind key (equal keys are then the same string: compared and hashed at once). */
export function sharedKey(key: string): string {
  const kept = keys.get(key);
  if (kept !== undefined) return kept;
  if (keys.size >= KEY_LIMIT) keys.clear();
  keys.set(key, key);
  return key;
}

/**
 * Whether every field of r that a shared result would copy is named by its key (resourceKey):
 * no disk (its source and other parts are not in the key), no reservation labels, and no
 * unknown fields anywhere. Others are never shared.
 */
export function shareable(r: Resource): boolean {
  if (r.disk !== undefined || r.$unknown !== undefined || r.allocationInfo?.$unknown !== undefined) return false;
  for (const v of r.reservations) if (v.labels !== undefined || v.$unknown !== undefined) return false;
  return true;
}

/**
 * Values by kind key, allocation role and scalar amount: T is what the caller keeps per
 * value (resources.ts keeps its whole entry, so one object stands for the message and its
 * bookkeeping).
 */
export class SharedScalars<T> {
  private readonly byKind = new Map<string, Map<string | undefined, Map<number, T>>>();
  private count = 0;

  /** The value kept for the kind, allocation role and amount (in thousandths), if any. */
  get(kind: string, alloc: string | undefined, millis: number): T | undefined {
    return this.byKind.get(kind)?.get(alloc)?.get(millis);
  }

  /** Keeps `value` for the kind, allocation role and amount (in thousandths); returns it. */
  keep(kind: string, alloc: string | undefined, millis: number, value: T): T {
    if (this.count >= SHARED_SCALARS_LIMIT) {
      this.byKind.clear();
      this.count = 0;
    }
    let byAlloc = this.byKind.get(kind);
    if (!byAlloc) this.byKind.set(kind, (byAlloc = new Map()));
    let values = byAlloc.get(alloc);
    if (!values) byAlloc.set(alloc, (values = new Map()));
    values.set(millis, value);
    this.count++;
    return value;
  }

  /** Values kept now (tests). */
  get size(): number {
    return this.count;
  }
}
