import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface LoggerOptions {
  name: string;
  level: LevelWithSilent;
  /**
   * File descriptor for log lines. Services log JSON to stdout; one-shot
   * commands whose stdout is data (`once`, `doctor --json`) log to stderr.
   */
  fd?: 1 | 2;
}

/** pino JSON logger; synchronous destination so nothing is lost on exit. */
export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    { name: opts.name, level: opts.level, base: { pid: process.pid } },
    pino.destination({ dest: opts.fd ?? 1, sync: true }),
  );
}
