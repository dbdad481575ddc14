/** Set values as sorted arrays of distinct strings, so they compare and print stably. */

export function normalizeSet(items: Iterable<string>): string[] {
  return [...new Set(items)].sort();
}

export function unionSets(a: readonly string[], b: readonly string[]): string[] {
  return normalizeSet([...a, ...b]);
}

export function subtractSets(a: readonly string[], b: readonly string[]): string[] {
  if (b.length === 0) return [...a];
  const drop = new Set(b);
  return a.filter((x) => !drop.has(x));
}

export function setContains(a: readonly string[], b: readonly string[]): boolean {
  if (b.length > a.length) return false;
  const have = new Set(a);
  return b.every((x) => have.has(x));
}

export function formatSet(items: readonly string[]): string {
  return `{${items.join(",")}}`;
}
