/**
 * The scalar resources the master's metrics show (Mesos's master/cpus_total, _used,
 * _percent, and the same for mem, disk, gpus): the total of the registered, reachable
 * agents; what their tasks (not yet terminal) and executors use; and, as our addition, what
 * sits in outstanding offers. Kept incrementally by MasterCounts and OfferBook.
 */

export const METERED_RESOURCES = ["cpus", "mem", "disk", "gpus"] as const;
export type MeteredResource = (typeof METERED_RESOURCES)[number];
