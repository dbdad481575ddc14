/** How numbers, sizes and times read in the UI. */

/** Megabytes (Mesos's unit for mem and disk) as "512 MB", "1.5 GB". */
export function megabytes(mb: number): string {
  if (mb >= 1024 * 1024) return `${round(mb / 1024 / 1024)} TB`;
  if (mb >= 1024) return `${round(mb / 1024)} GB`;
  return `${round(mb)} MB`;
}

/** Bytes (file sizes) as "12 B", "3.4 KB", "1.2 MB". */
export function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${round(n / 1024 / 1024)} MB`;
  if (n >= 1024) return `${round(n / 1024)} KB`;
  return `${n} B`;
}

export function round(x: number): number {
  return Math.round(x * 100) / 100;
}

export function percent(used: number, total: number): string {
  return total > 0 ? `${Math.round((used / total) * 100)}%` : "–";
}

/** Seconds since the epoch as a local date and time. */
export function dateTime(seconds: number | undefined): string {
  if (!seconds) return "–";
  return new Date(seconds * 1000).toLocaleString();
}

export function clockTime(seconds: number | undefined): string {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleTimeString();
}

/** The resource's value in its unit: cpus as is, mem and disk in MB. */
export function resourceValue(kind: "cpus" | "mem" | "disk" | "gpus", value: number): string {
  return kind === "mem" || kind === "disk" ? megabytes(value) : String(round(value));
}
