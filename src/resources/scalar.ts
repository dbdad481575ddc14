/**
 * Scalar amounts are kept to three decimal places, as Mesos does, so that 0.1 + 0.2 cpus
 * is exactly 0.3 and repeated add/subtract never drifts. Arithmetic goes through integer
 * thousandths.
 */
export const SCALAR_SCALE = 1000;

/** The amount in integer thousandths. */
export function toMillis(value: number): number {
  return Math.round(value * SCALAR_SCALE);
}

export function fromMillis(millis: number): number {
  return millis / SCALAR_SCALE;
}

/** The amount rounded to three decimal places. */
export function roundScalar(value: number): number {
  return fromMillis(toMillis(value));
}

export function addScalars(a: number, b: number): number {
  return fromMillis(toMillis(a) + toMillis(b));
}

/** a − b, never below zero. */
export function subtractScalars(a: number, b: number): number {
  return fromMillis(Math.max(0, toMillis(a) - toMillis(b)));
}

/** a ≥ b at three decimal places. */
export function scalarContains(a: number, b: number): boolean {
  return toMillis(a) >= toMillis(b);
}

/** The shortest decimal text of a rounded scalar ("4", "0.5", "1.125"). */
export function formatScalar(value: number): string {
  return String(roundScalar(value));
}
