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
  // The lines are gathered here and handed to sonic-boom as one string per write: its own
  // buffer (string += line, then Buffer.byteLength of the whole buffer) copied the buffer
  // at every line, ~25 KB of garbage per full-DHCP transaction (80 → 54 KB per DORA).
  const dest = pino.destination({ fd: 2, sync: false, minLength: 0 });
  const lines = batchedLines(dest, 8 * 1024);
  const timer = setInterval(() => {
    try {
      lines.flush();
    } catch {
      // not ready
    }
  }, 200);
  timer.unref();
  process.once('exit', () => {
    try {
      lines.flush();
      dest.flushSync();
    } catch {
      // stderr gone
    }
  });
  return pino({ level, base: undefined }, lines);
}

/** A pino destination that collects lines and writes them to `dest` at `minLength` chars or on flush(). */
function batchedLines(dest: { write(s: string): boolean }, minLength: number): { write(s: string): boolean; flush(): void } {
  let parts: string[] = [];
  let length = 0;
  const flush = () => {
    if (parts.length === 0) return;
    const text = parts.length === 1 ? parts[0]! : parts.join('');
    parts = [];
    length = 0;
    dest.write(text);
  };
  return {
    write(s: string) {
      parts.push(s);
      length += s.length;
      if (length >= minLength) flush();
      return true;
    },
    flush,
  };
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
