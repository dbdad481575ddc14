import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export interface LogOptions {
  level?: LevelWithSilent;
  /** Human-readable output; defaults to true when stdout is a terminal. */
  pretty?: boolean;
  name?: string;
}

/** The process's root logger: pino JSON, pretty-printed when stdout is a terminal. */
export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? ((process.env.DCOS_LOG_LEVEL as LevelWithSilent | undefined) ?? "info");
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const base = { name: options.name ?? "dcos-node" };
  if (pretty) {
    return pino({
      level,
      base,
      transport: { target: "pino-pretty", options: { colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname" } },
    });
  }
  return pino({ level, base }, pino.destination({ dest: 1, sync: false, maxLength: LOG_BUFFER_BYTES }));
}

/**
 * The most log output a process holds while its reader (a pipe to journald, a test
 * harness) does not keep up; lines beyond it are dropped. Writes are asynchronous: a
 * synchronous write to a full pipe blocked the whole event loop (a leading master stalled
 * for 2.3 s while its log reader was descheduled, longer than the Raft election timeout,
 * and lost its term). What is buffered is written at exit; a kill -9 loses it.
 */
const LOG_BUFFER_BYTES = 16 * 2 ** 20;

/** A logger that discards everything, for tests and benchmarks that do not want output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** A logger for tests: silent unless DCOS_TEST_LOG names a level. */
export function testLogger(): Logger {
  const level = process.env.DCOS_TEST_LOG as LevelWithSilent | undefined;
  return level ? pino({ level }) : silentLogger();
}
