/**
 * pino logger: human-readable on a TTY, JSON lines otherwise (journald, pipes).
 * Logs go to stderr so that command output on stdout (decode --json, replay --json)
 * stays machine-readable.
 */
import { writeSync } from 'node:fs';
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
    // sonic-boom's own pending buffer first, then ours, both synchronously: an async
    // write started now would never complete (short commands exit right after logging).
    for (const f of [() => dest.flushSync(), () => lines.flushSync(2)]) {
      try {
        f();
      } catch {
        // stderr gone, or sonic-boom not ready
      }
    }
  });
  return jsonLogger(level, lines);
}

/**
 * Marks a logger (and, through the prototype chain, its children) as writing pino's
 * default JSON lines: `{"level":<number>,"time":<epoch ms><bindings>,<fields>,"msg":...}`,
 * no mixin, serializers, redaction or formatters. Hot paths may then write lines in that
 * exact format to the logger's own destination themselves (access-log.ts).
 */
export const DEFAULT_JSON_LINES = Symbol('ltsp-ts: pino default JSON lines');

/** The JSON-lines logger createLogger builds, on any destination (tests capture with it). */
export function jsonLogger(level: Level | 'silent', dest: { write(s: string): unknown }): Logger {
  const logger = pino({ level, base: undefined }, dest as pino.DestinationStream);
  (logger as unknown as Record<symbol, boolean>)[DEFAULT_JSON_LINES] = true;
  return logger;
}

/**
 * A pino destination that collects lines and writes them to `dest` at `minLength` chars or
 * on flush(); flushSync(fd) writes what is collected with blocking writes (exit).
 */
function batchedLines(dest: { write(s: string): boolean }, minLength: number): { write(s: string): boolean; flush(): void; flushSync(fd: number): void } {
  let parts: string[] = [];
  let length = 0;
  const take = (): string | undefined => {
    if (parts.length === 0) return undefined;
    const text = parts.length === 1 ? parts[0]! : parts.join('');
    parts = [];
    length = 0;
    return text;
  };
  return {
    write(s: string) {
      parts.push(s);
      length += s.length;
      if (length >= minLength) {
        const text = take();
        if (text) dest.write(text);
      }
      return true;
    },
    flush() {
      const text = take();
      if (text) dest.write(text);
    },
    flushSync(fd: number) {
      const text = take();
      if (text) writeAllSync(fd, Buffer.from(text));
    },
  };
}

/** Blocking write of all of `buf` (a non-blocking pipe may say EAGAIN: retry, bounded). */
function writeAllSync(fd: number, buf: Buffer): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let tries = 0; buf.length > 0 && tries < 2000; ) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      tries++;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
