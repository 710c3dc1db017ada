/**
 * The HTTP service's per-request record: one access-log line, the request/byte/in-flight
 * metrics and (for file, image and script requests) a BootEvent, all taken from the raw
 * response's 'close' event so that hijacked, fast-path and fastify replies are counted the
 * same way, aborted ones included.
 *
 * Access lines are handed to pino in batches (at most `batchMs` late). pino's async
 * destination writes each line it is given while idle with its own fs.write, i.e. a
 * thread-pool round trip per request; lines given in one go share one write. On a busy
 * 2-vCPU server those round trips cost more CPU than the request itself (measured with
 * bench/http.mjs, 128 KiB ranges). nginx's `access_log ... buffer= flush=` trades the
 * same way. Lines keep their order; `ms` is the request's own duration.
 *
 * With the daemon's logger (log.ts jsonLogger: pino's default JSON lines) each line is
 * formatted here, in exactly the text pino writes for `log.info(line, msg)` (a test
 * compares the two), and handed to the logger's own destination; `time` is then when the
 * request ended. JSON.stringify of the line alone took ~10k of the ~103k instructions of
 * a whole 128 KiB range request (callgrind, steady state). Any other logger (pretty output, a
 * test's own pino) gets `log[level](line, msg)` at flush, and `time` is when the batch
 * was written.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino } from 'pino';
import { DEFAULT_JSON_LINES, type Logger } from '../log.js';
import { noEvents, type BootEventSink } from '../events.js';
import { seriesOf, type MetricsRegistry, type Series } from '../metrics.js';
import { unmapIPv4 } from './client-subnet.js';

export type RouteLabel = 'script' | 'image' | 'file' | 'metrics' | 'healthz' | 'other';

/** Per-request bookkeeping shared by the handlers and the access log. */
export interface Track {
  /** performance.now() when the request began. */
  start: number;
  route: RouteLabel;
  /** Body bytes written by our own sender or refusal (raw replies). */
  bytes?: number;
  /** File name relative to the route root, for boot events. */
  file?: string;
  outcome?: string;
  reason?: string;
}

export interface RequestRecorder {
  /**
   * Starts the record of one request; it is completed when `res` closes. `bodyBytes` gives
   * the body size of replies not sent by our own code (fastify's Content-Length).
   */
  begin(req: IncomingMessage, res: ServerResponse, route: RouteLabel, bodyBytes?: () => number): Track;
  /** Writes the pending access lines now (server close). */
  flush(): void;
  /** Requests begun and not yet closed (all routes): what a graceful stop waits for. */
  inFlight(): number;
}

type Level = 'info' | 'warn' | 'debug';

export interface AccessLine {
  client: string;
  method: string;
  path: string | undefined;
  status: number;
  bytes: number;
  ms: number;
  range: string | undefined;
  ua: string | undefined;
  aborted?: boolean;
  reason?: string;
}

export function clientIp(req: IncomingMessage): string {
  return unmapIPv4(req.socket.remoteAddress ?? '');
}

/**
 * For a logger marked DEFAULT_JSON_LINES: formats access lines as pino would and writes
 * them to its destination. undefined for any other logger.
 */
export function lineWriter(log: Logger): { format(level: Level, line: AccessLine, msg?: string, time?: number): string; write(text: string): void } | undefined {
  const l = log as unknown as Record<symbol, unknown>;
  const stream = l[pino.symbols.streamSym] as { write?: (s: string) => unknown } | undefined;
  const bindings = l[pino.symbols.chindingsSym];
  if (l[DEFAULT_JSON_LINES] !== true || typeof stream?.write !== 'function' || typeof bindings !== 'string') return undefined;
  const values = log.levels.values;
  const head = { info: `{"level":${values.info}`, warn: `{"level":${values.warn}`, debug: `{"level":${values.debug}` };
  const last: { client?: string; method?: string; path?: string; who?: string; ua?: string; uaJson: string; msg?: string; msgJson: string } = { uaJson: '', msgJson: '' };
  return {
    // The keys in AccessLine's order, undefined ones left out, as pino writes an object.
    // Written out rather than JSON.stringify(line): in callgrind (steady state, 128 KiB
    // ranges) queueing a line took ~13.6k of the ~103k instructions of a whole request.
    format: (level, line, msg, time = Date.now()) => {
      // Consecutive lines mostly share client, method, path, user agent and message (a
      // client reading one file in ranges): those parts are reused from the line before.
      if (line.client !== last.client || line.method !== last.method || line.path !== last.path || last.who === undefined) {
        last.client = line.client;
        last.method = line.method;
        last.path = line.path;
        last.who = `${bindings},"client":${jsonString(line.client)},"method":${jsonString(line.method)}${line.path === undefined ? '' : `,"path":${jsonString(line.path)}`}`;
      }
      let s = `${head[level]},"time":${time}${last.who},"status":${jsonNumber(line.status)},"bytes":${jsonNumber(line.bytes)},"ms":${jsonNumber(line.ms)}`;
      if (line.range !== undefined) s += `,"range":${jsonString(line.range)}`;
      if (line.ua !== undefined) {
        if (line.ua !== last.ua) {
          last.ua = line.ua;
          last.uaJson = `,"ua":${jsonString(line.ua)}`;
        }
        s += last.uaJson;
      }
      if (line.aborted !== undefined) s += `,"aborted":${line.aborted}`;
      if (line.reason !== undefined) s += `,"reason":${jsonString(line.reason)}`;
      const m = msg ?? messageOf(line);
      if (m !== last.msg) {
        last.msg = m;
        last.msgJson = `,"msg":${jsonString(m)}}\n`;
      }
      return s + last.msgJson;
    },
    write: (t) => void stream.write!(t),
  };
}

/** An access line's message: `GET /ltsp/x 206`. */
function messageOf(line: AccessLine): string {
  return `${line.method} ${line.path} ${line.status}`;
}

/** Characters JSON.stringify escapes (and surrogates, whose pairing it checks). */
const NEEDS_ESCAPE = /["\\\x00-\x1f\ud800-\udfff]/;

/** `s` as a JSON string literal, exactly as JSON.stringify writes it. */
function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** A number as JSON.stringify writes it (non-finite ones as null). */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** Batches of at most this many lines (a burst does not wait for the timer). */
const BATCH_MAX = 256;

export function requestRecorder(log: Logger, metrics: MetricsRegistry, events: BootEventSink, batchMs = 20): RequestRecorder {
  const mRequests = metrics.counter('ltsp_http_requests_total', 'HTTP requests answered, by route and status');
  const mBytes = metrics.counter('ltsp_http_response_bytes_total', 'HTTP response body bytes sent, by route and status');
  const mInFlight = metrics.gauge('ltsp_http_requests_in_flight', 'HTTP requests being answered, by route');

  const inFlight = new Map<RouteLabel, Series>();
  /** Per route, per status (numeric keys: no key string to build and hash per request). */
  const answered = new Map<RouteLabel, Map<number, { requests: Series; bytes: Series }>>();
  const inFlightOf = (route: RouteLabel): Series => {
    let s = inFlight.get(route);
    if (!s) inFlight.set(route, (s = seriesOf(mInFlight, { route })));
    return s;
  };
  const answeredOf = (route: RouteLabel, status: number) => {
    let byStatus = answered.get(route);
    if (!byStatus) answered.set(route, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (!s) byStatus.set(status, (s = { requests: seriesOf(mRequests, { route, status }), bytes: seriesOf(mBytes, { route, status }) }));
    return s;
  };

  const text = lineWriter(log);
  let pending: { level: Level; line: AccessLine; time: number }[] = [];
  let timer: NodeJS.Timeout | undefined;

  /**
   * Lines are formatted here, a batch in one loop, not as each request ends: between two
   * 128 KiB copies the formatting code and data were out of the CPU caches, and a line
   * cost several times what it costs in a loop (side by side, 2000 ranges a round: server
   * CPU 149 → 141 µs per range with the log off).
   */
  function flush(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const lines = pending;
    pending = [];
    if (text) {
      let out = '';
      for (const p of lines) out += text.format(p.level, p.line, undefined, p.time);
      if (out) text.write(out);
    } else for (const p of lines) log[p.level](p.line, messageOf(p.line));
  }

  function queue(level: Level, line: AccessLine): void {
    pending.push({ level, line, time: Date.now() });
    if (pending.length >= BATCH_MAX) flush();
    else if (!timer) timer = setTimeout(flush, batchMs).unref();
  }

  function finished(req: IncomingMessage, res: ServerResponse, t: Track, bodyBytes?: () => number): void {
    const ms = performance.now() - t.start;
    const status = res.statusCode;
    const method = req.method ?? '';
    const bytes = t.bytes ?? (method === 'HEAD' || !bodyBytes ? 0 : bodyBytes());
    const aborted = !res.writableFinished;
    inFlightOf(t.route).dec();
    const a = answeredOf(t.route, status);
    a.requests.inc();
    a.bytes.inc(bytes);
    const quiet = t.route === 'metrics' || t.route === 'healthz';
    const level: Level = status === 403 ? 'warn' : quiet ? 'debug' : 'info';
    const wantEvent = events !== noEvents && (t.route === 'file' || t.route === 'image' || t.route === 'script');
    if (!wantEvent && !log.isLevelEnabled(level)) return;
    const client = clientIp(req);
    const path = req.url;
    if (log.isLevelEnabled(level)) {
      const line: AccessLine = {
        client,
        method,
        path,
        status,
        bytes,
        ms: Math.round(ms * 1000) / 1000,
        range: req.headers.range,
        ua: req.headers['user-agent'],
      };
      if (aborted) line.aborted = true;
      if (t.reason) line.reason = t.reason;
      queue(level, line);
    }
    if (wantEvent) {
      try {
        events({
          time: Date.now(),
          service: 'http',
          kind: 'request',
          ip: client,
          file: t.file ?? path,
          bytes,
          durationMs: ms,
          outcome: aborted ? 'aborted' : (t.outcome ?? (status < 400 ? 'ok' : 'error')),
          detail: { status, method, range: req.headers.range, reason: t.reason },
        });
      } catch (err) {
        log.error({ err }, 'boot event sink failed');
      }
    }
  }

  let open = 0;
  return {
    begin(req, res, route, bodyBytes) {
      const t: Track = { start: performance.now(), route };
      inFlightOf(route).inc();
      open++;
      // `on` with a flag rather than `once`: no wrapper and bound function per request, no
      // listener removal on emit (the response object is dropped afterwards anyway)
      let closed = false;
      res.on('close', () => {
        if (closed) return;
        closed = true;
        open--;
        finished(req, res, t, bodyBytes);
      });
      return t;
    },
    flush,
    inFlight: () => open,
  };
}
