/**
 * pino logger: human-readable on a TTY, JSON lines otherwise (journald, pipes).
 * Logs go to stderr so that command output on stdout (decode --json, replay --json)
 * stays machine-readable.
 */
import { pino, type Logger, type Level } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export function createLogger(level: Level | 'silent' = 'info', opts: { pretty?: boolean } = {}): Logger {
  const usePretty = opts.pretty ?? Boolean(process.stderr.isTTY);
  if (usePretty) {
    return pino({ level }, pretty({ destination: 2, sync: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  // JSON lines are buffered (up to 8 KiB) and written at most every 200 ms: one write per
  // line was a libuv thread-pool round trip per DHCP packet (~15% of proxyDHCP CPU at
  // 1000 req/s). The buffer is flushed synchronously on exit so no line is lost.
  const dest = pino.destination({ fd: 2, sync: false, minLength: 8 * 1024 });
  const timer = setInterval(() => {
    try {
      dest.flush();
    } catch {
      // not ready / nothing to flush
    }
  }, 200);
  timer.unref();
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // stderr gone
    }
  });
  return pino({ level, base: undefined }, dest);
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
