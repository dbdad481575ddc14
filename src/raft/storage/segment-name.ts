/**
 * Names of write-ahead log segments: `<seq>-<firstIndex>.wal`, both 16 hex digits, so
 * names sort in log order. `firstIndex` is the index the next entry had when the segment
 * was started: every entry in earlier segments is below it.
 */
export interface SegmentName {
  seq: number;
  firstIndex: number;
  file: string;
}

const PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

export function segmentFile(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

export function parseSegmentFile(file: string): SegmentName | undefined {
  const m = PATTERN.exec(file);
  if (!m) return undefined;
  return { seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16), file };
}

/** The segments among the names of a directory, in order. */
export function segmentsIn(files: readonly string[]): SegmentName[] {
  return files
    .map(parseSegmentFile)
    .filter((s): s is SegmentName => s !== undefined)
    .sort((a, b) => a.seq - b.seq);
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}
