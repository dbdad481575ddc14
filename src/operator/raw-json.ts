/**
 * JSON built from pieces that are already serialized: a RawJson holds JSON text that is
 * written as is, and containers marked with mixed() may hold RawJson values anywhere
 * below them. Everything else goes through JSON.stringify. /state keeps each task's JSON
 * text between builds and splices it in instead of serializing 100,000 tasks again.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

const MIXED = new WeakSet<object>();

/** Marks an object or array that may hold RawJson values (directly or in mixed children). */
export function mixed<T extends object>(value: T): T {
  MIXED.add(value);
  return value;
}

/** A JSON array of already-serialized elements. */
export function rawArray(texts: readonly string[]): RawJson {
  return new RawJson(`[${texts.join(",")}]`);
}

/** JSON text of a value, as JSON.stringify would write it, with RawJson spliced in. */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (typeof value !== "object" || value === null || !MIXED.has(value)) return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(jsonText).join(",")}]`;
  const parts: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined || typeof v === "function") continue;
    parts.push(`${JSON.stringify(key)}:${jsonText(v)}`);
  }
  return `{${parts.join(",")}}`;
}
