/**
 * Reading Linux's /proc: one process's stat line, every process on the host, and the host
 * constants needed to turn ticks and pages into seconds and bytes. Everything here reads
 * a snapshot; a process can vanish between two reads, so "gone" is an ordinary answer
 * (undefined), never an error.
 */
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";

/** The fields of /proc/<pid>/stat that isolation needs. */
export interface ProcStat {
  pid: number;
  comm: string;
  /** R, S, D, Z (zombie), T, X … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** CPU time in clock ticks (see clockTicksPerSecond). */
  utimeTicks: number;
  stimeTicks: number;
  /** CPU time of the children this process waited for (reaped), in clock ticks. */
  cutimeTicks: number;
  cstimeTicks: number;
  threads: number;
  /** When the process started, in clock ticks after boot: with the pid, it names one process for good. */
  startTime: number;
  /** Resident set size in pages (see pageSize). */
  rssPages: number;
}

/**
 * Parses one /proc/<pid>/stat line. The command name sits in parentheses and may itself
 * contain spaces and parentheses, so the fields are counted from the last ')'.
 */
export function parseStat(line: string): ProcStat | undefined {
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(line.slice(0, open).trim());
  // The kernel separates the fields with single spaces (a plain split is several times cheaper than a regex).
  const rest = line.slice(close + 2).trimEnd().split(" ");
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const field = (n: number): number => Number(rest[n - 3]);
  const stat: ProcStat = {
    pid,
    comm: line.slice(open + 1, close),
    state: rest[0] ?? "?",
    ppid: field(4),
    pgrp: field(5),
    session: field(6),
    utimeTicks: field(14),
    stimeTicks: field(15),
    cutimeTicks: field(16),
    cstimeTicks: field(17),
    threads: field(20),
    startTime: field(22),
    rssPages: field(24),
  };
  if (!Number.isInteger(stat.pid) || !Number.isFinite(stat.startTime)) return undefined;
  return stat;
}

/** The stat of one process, or undefined when it does not exist (any more). */
export async function readStat(pid: number): Promise<ProcStat | undefined> {
  return statOf(pid);
}

/** readStat without the promise (the warm launcher, right after a fork). */
export function readStatSync(pid: number): ProcStat | undefined {
  return statOf(pid);
}

/**
 * Reads /proc/<pid>/stat synchronously into a shared buffer: the kernel makes it up from
 * memory (it never waits for a disk), and open, read and close cost microseconds, where the
 * promise API's open, fstat, read and close through the thread pool cost several round trips
 * each. A host scan reads a file per process (hundreds), so this is most of what a scan costs.
 */
function statOf(pid: number): ProcStat | undefined {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/stat`, "r");
  } catch {
    return undefined;
  }
  try {
    const n = readSync(fd, statBuffer, 0, statBuffer.length, 0);
    return parseStat(statBuffer.toString("utf8", 0, n));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** One stat line is well under 1 KiB (a 16-byte name and 52 numbers). */
const statBuffer = Buffer.allocUnsafe(4096);

/** How many stat files a scan reads before it lets other work run. */
const SCAN_SLICE = 256;

async function scanProcesses(): Promise<ProcStat[]> {
  const stats: ProcStat[] = [];
  let read = 0;
  for (const n of readdirSync("/proc")) {
    if (n.charCodeAt(0) < 48 || n.charCodeAt(0) > 57) continue; // only the numeric entries are processes
    const s = statOf(Number(n));
    if (s) stats.push(s);
    if (++read % SCAN_SLICE === 0) await new Promise<void>((r) => setImmediate(r));
  }
  return stats;
}

/** How long the first caller's scan waits for others to ask too (they then share it). */
const GATHER_MS = 5;

/** The scan gathering its callers (not started yet), and the one being read. */
let gathering: Promise<ProcStat[]> | undefined;
let scanning: Promise<ProcStat[]> | undefined;

/**
 * The stat of every process on the host (processes that vanish while reading are skipped),
 * read after the call. A scan reads a file per process (three system calls each), so it
 * starts GATHER_MS after the first caller asked and every caller until then shares it; one
 * that asks while a scan is being read shares the next. When containers end at 75 a second,
 * the host is read a few dozen times a second, not 75.
 */
export function listProcesses(): Promise<ProcStat[]> {
  gathering ??= new Promise<void>((r) => setTimeout(r, GATHER_MS))
    .then(() => scanning?.then(() => undefined, () => undefined))
    .then(() => {
      gathering = undefined;
      scanning = scanProcesses().finally(() => (scanning = undefined));
      return scanning;
    });
  return gathering;
}

/** A zombie or dead process has exited; only its parent's wait is left. */
export function hasExited(stat: ProcStat): boolean {
  return stat.state === "Z" || stat.state === "X" || stat.state === "x";
}

/**
 * Whether the process that was `pid` and started at `startTime` still runs. A pid reused
 * by another process has another start time, so it does not count.
 */
export async function isAlive(pid: number, startTime: number): Promise<boolean> {
  const stat = await readStat(pid);
  return stat !== undefined && stat.startTime === startTime && !hasExited(stat);
}

let cachedBootId: string | undefined;
/** This boot's id: a checkpoint from another boot names processes that are all gone. */
export function bootId(): string {
  cachedBootId ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  return cachedBootId;
}

function getconf(name: string, fallback: number): number {
  try {
    const v = Number(execFileSync("getconf", [name], { encoding: "utf8" }).trim());
    return Number.isFinite(v) && v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

let cachedTicks: number | undefined;
/** USER_HZ, the unit of the CPU times in /proc (100 on every common Linux build). */
export function clockTicksPerSecond(): number {
  cachedTicks ??= getconf("CLK_TCK", 100);
  return cachedTicks;
}

let cachedPageSize: number | undefined;
export function pageSize(): number {
  cachedPageSize ??= getconf("PAGESIZE", 4096);
  return cachedPageSize;
}
