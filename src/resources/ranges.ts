/**
 * Ranges of integers as lists of inclusive intervals. Every function here takes and returns
 * normalised lists (sorted by begin, disjoint, not adjacent) unless it says otherwise.
 */
export interface Interval {
  readonly begin: number;
  readonly end: number;
}

/** Sorts and merges overlapping or adjacent intervals; drops nothing else. */
export function normalizeRanges(intervals: readonly Interval[]): Interval[] {
  if (intervals.length === 0) return [];
  const sorted = [...intervals].sort((a, b) => a.begin - b.begin || a.end - b.end);
  const out: { begin: number; end: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.begin <= last.end + 1) {
      if (r.end > last.end) last.end = r.end;
    } else {
      out.push({ begin: r.begin, end: r.end });
    }
  }
  return out;
}

export function isNormalized(intervals: readonly Interval[]): boolean {
  for (let i = 0; i < intervals.length; i++) {
    const r = intervals[i]!;
    if (r.begin > r.end) return false;
    if (i > 0 && r.begin <= intervals[i - 1]!.end + 1) return false;
  }
  return true;
}

export function unionRanges(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  if (b.length === 0) return [...a];
  if (a.length === 0) return [...b];
  return normalizeRanges([...a, ...b]);
}

/** The integers of a that are not in b. */
export function subtractRanges(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const r of a) {
    let begin = r.begin;
    const end = r.end;
    while (j < b.length && b[j]!.end < begin) j++;
    let k = j;
    while (k < b.length && b[k]!.begin <= end) {
      const cut = b[k]!;
      if (cut.begin > begin) out.push({ begin, end: cut.begin - 1 });
      begin = Math.max(begin, cut.end + 1);
      if (begin > end) break;
      k++;
    }
    if (begin <= end) out.push({ begin, end });
  }
  return out;
}

/** Whether every integer of b is in a. */
export function rangesContain(a: readonly Interval[], b: readonly Interval[]): boolean {
  let i = 0;
  for (const r of b) {
    while (i < a.length && a[i]!.end < r.begin) i++;
    const outer = a[i];
    if (!outer || outer.begin > r.begin || outer.end < r.end) return false;
  }
  return true;
}

/** How many integers the intervals hold. */
export function countRanges(intervals: readonly Interval[]): number {
  let n = 0;
  for (const r of intervals) n += r.end - r.begin + 1;
  return n;
}

/** "[31000-32000,33000-33000]". */
export function formatRanges(intervals: readonly Interval[]): string {
  return `[${intervals.map((r) => `${r.begin}-${r.end}`).join(",")}]`;
}

/** The first n integers of the ranges, as ranges (fewer if there are fewer). */
export function takeRanges(intervals: readonly Interval[], n: number): Interval[] {
  const out: Interval[] = [];
  let left = n;
  for (const r of intervals) {
    if (left <= 0) break;
    const size = r.end - r.begin + 1;
    if (size <= left) {
      out.push({ begin: r.begin, end: r.end });
      left -= size;
    } else {
      out.push({ begin: r.begin, end: r.begin + left - 1 });
      left = 0;
    }
  }
  return out;
}
