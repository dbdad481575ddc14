/**
 * How late this process's event loop runs right now: a timer every 100 ms notes how much
 * later than due it fired, and `loopLagMs()` is the largest lateness of the last ~2 s. The
 * event-loop-delay gauges (event-loop-delay.ts) cover 30-60 s for operators; this is the
 * short view a master acts on (launch admission: a leader whose loop is seconds late sends
 * its Raft heartbeats seconds late and loses its term). One timer per process, unref'd,
 * started by the first call.
 */
const INTERVAL_MS = 100;
const SAMPLES = 20;

let meter: { samples: Float64Array; next: number; due: number } | undefined;

/** The largest lateness of the loop over the last ~2 s (ms). */
export function loopLagMs(): number {
  if (!meter) {
    const m = { samples: new Float64Array(SAMPLES), next: 0, due: performance.now() + INTERVAL_MS };
    setInterval(() => {
      const now = performance.now();
      m.samples[m.next] = Math.max(0, now - m.due);
      m.next = (m.next + 1) % SAMPLES;
      m.due = now + INTERVAL_MS;
    }, INTERVAL_MS).unref();
    meter = m;
  }
  // The sample being made counts too: a loop stuck right now is late by the time since due.
  let max = Math.max(0, performance.now() - meter.due);
  for (const s of meter.samples) if (s > max) max = s;
  return max;
}
