/**
 * Open-loop load at a fixed rate, the one latency method of the Raft benchmark: every
 * operation is started when it is due (rate × elapsed time, checked every millisecond),
 * whether or not earlier ones finished, and its latency is measured from its start to its
 * completion on the caller's side. Used for proposals inside the leader's process and for
 * gRPC clients (ours and etcd's) alike, so the figures compare. A failed operation fails
 * the run, unless `onError` takes it (its latency is then not counted).
 */
export async function pacedLatencies(durationMs: number, perSecond: number, op: (i: number) => Promise<unknown>, onError?: (e: unknown) => void): Promise<number[]> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < durationMs) {
    const due = Math.floor(((performance.now() - start) / 1000) * perSecond);
    for (; sent < due; sent++) {
      const t0 = performance.now();
      const done = op(sent).then(() => void latencies.push(performance.now() - t0));
      pending.push(onError ? done.catch(onError) : done);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  if (latencies.length === 0) throw new Error("No operation completed");
  return latencies;
}
