/**
 * A lean HTTP/1.1 front for the one request that dominates the service: a plain GET/HEAD
 * of a file under /ltsp/. It reads requests off the TCP socket itself and answers the ones
 * `handle` accepts with a small response object (`RawResponse`) that the file code drives
 * exactly like a node:http ServerResponse. Everything else — any other route, any request
 * it does not parse with certainty — is handed to node:http (and fastify) untouched: the
 * bytes read so far are pushed back onto the socket (`unshift`) and node:http's own
 * connection listener adopts the socket, which stays with node:http from then on.
 *
 * Why: 128 KiB Range requests (squashfs over HTTP, UEFI HTTP Boot) side by side with nginx
 * (~210–240 µs per range, curl included): a bare node:http + pread server took 0–45 µs more
 * per range than a bare `net` one, and ltsp-ts on node:http 338–409 µs; through this front
 * and serve-file.ts's one-turn path, 275–328 µs (server CPU 173–180 → 138–169 µs; README,
 * HTTP benchmark).
 *
 * Strict on purpose: a request line other than `GET|HEAD <origin-form> HTTP/1.0|1.1`, a
 * header line that is not `token: value` without control characters, a repeated header,
 * Content-Length or Transfer-Encoding (a body), Expect, Upgrade, a missing Host
 * on HTTP/1.1, or a head over 16 KiB (node:http's limit) all go to node:http, which then
 * answers (or refuses) them as it always did. Handing over happens only between responses.
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConditionalHeaders } from './http-range.js';

/** node:http's default maxHeaderSize: longer heads are node:http's to refuse (431). */
const MAX_HEAD = 16 * 1024;
/** node:http's default headersTimeout: a request head must be complete this long after its first byte. */
const HEADERS_TIMEOUT_MS = 60_000;
/** Pipelined bytes buffered while a response is in flight before reading pauses. */
const MAX_PENDING = 64 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * Control characters other than HTAB are not allowed in a field value (RFC 9110 §5.5), nor
 * in a request line: checked once over the whole head rather than per value. CR and LF,
 * allowed here, may only appear as the CRLF that ends a line (checked per line, `lineEnd`).
 */
const CTL_IN_HEAD = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/** Where the line starting at `from` ends (its CRLF; -1: at the end of `text`), or -2 when it holds a bare CR or LF. */
function lineEnd(text: string, from: number): number {
  const eol = text.indexOf('\r\n', from);
  return text.indexOf('\r', from) === eol && text.indexOf('\n', from) === (eol < 0 ? -1 : eol + 1) ? eol : -2;
}
const REQUEST_LINE = /^(GET|HEAD) (\/[^ ]*) HTTP\/1\.([01])$/;

/** What the file code reads of a request (the subset of IncomingMessage it uses). */
export interface RawRequest {
  method: 'GET' | 'HEAD';
  url: string;
  httpVersion: '1.0' | '1.1';
  headers: RawHeaders;
  socket: Socket;
}

/**
 * Writes `s` as latin1 at `at`. Buffer#latin1Write (Node's own, undocumented) when there:
 * Buffer#write's encoding and argument handling took ~4k instructions per response
 * (callgrind), more than the rest of endInPlace.
 */
const latin1Write: (b: Buffer, s: string, at: number) => void =
  typeof (Buffer.prototype as unknown as { latin1Write?: unknown }).latin1Write === 'function'
    ? (b, s, at) => void (b as unknown as { latin1Write(s: string, at: number): number }).latin1Write(s, at)
    : (b, s, at) => void b.write(s, at, 'latin1');

let dateSecond = -1;
let dateText = '';
/** The Date header value, formatted once per second (as node:http does). */
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

/**
 * The response side: writeHead/write/end/destroy, headersSent/writableEnded/
 * writableFinished/statusCode, and 'finish' then 'close' when the body is in the kernel —
 * or 'close' alone when the connection died first (writableFinished stays false), as
 * node:http's ServerResponse does. Head and first body bytes go out in one write(v).
 */
export class RawResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  private head: string | undefined;
  private closed = false;

  constructor(
    readonly socket: Socket,
    private readonly isHead: boolean,
    private readonly keepAlive: boolean,
    private readonly keepAliveSeconds: number,
    /** Runs right after the 'close' listeners (the connection's own bookkeeping, without a listener of its own). */
    private readonly afterClose?: () => void,
  ) {
    super();
  }

  writeHead(status: number, headers: Record<string, string | number> = {}): this {
    let lines = '';
    for (const k in headers) lines += `${k}: ${headers[k]}\r\n`;
    return this.writeHeadLines(status, lines);
  }

  /**
   * writeHead with the header lines given as text (`name: value\r\n` each, in order): the
   * file path keeps the lines a file's responses share ready-made (serve-file.ts).
   */
  writeHeadLines(status: number, lines: string): this {
    if (this.headersSent) throw new Error('headers already sent');
    this.statusCode = status;
    this.headersSent = true;
    // the same Date and trailer node:http writes, so both paths answer byte-identical heads
    this.head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n${lines}Date: ${httpDate()}\r\n${
      this.keepAlive ? `Connection: keep-alive\r\nKeep-Alive: timeout=${this.keepAliveSeconds}\r\n\r\n` : 'Connection: close\r\n\r\n'
    }`;
    return this;
  }

  write(chunk: Buffer, cb?: (err?: Error | null) => void): boolean {
    if (this.writableEnded) throw new Error('write after end');
    return this.send(chunk, cb);
  }

  end(chunk?: Buffer | (() => void), cb?: () => void): this {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    }
    if (this.writableEnded) return this;
    if (!this.headersSent) this.writeHead(this.statusCode, { 'content-length': chunk?.length ?? 0 });
    this.writableEnded = true;
    this.send(chunk, this.ended(cb));
    if (!this.keepAlive) this.socket.end();
    return this;
  }

  /**
   * end() with `buf[from, to)` as the body, the pending head written into the caller's
   * headroom just before `from`: head and body leave as one buffer in one write(2), with no
   * cork, no writev and no string write (serve-file.ts reads small ranges at an offset for
   * this). Falls back to end() when there is no pending head or it does not fit.
   */
  endInPlace(buf: Buffer, from: number, to: number, cb?: () => void): this {
    const head = this.head;
    if (head === undefined || this.isHead || this.writableEnded || head.length > from) return this.end(buf.subarray(from, to), cb);
    const at = from - head.length;
    latin1Write(buf, head, at); // node:http writes heads as latin1 too
    this.head = undefined;
    this.writableEnded = true;
    this.send(buf.subarray(at, to), this.ended(cb));
    if (!this.keepAlive) this.socket.end();
    return this;
  }

  /** The write callback of the response's last bytes: 'finish' then 'close', unless the connection died. */
  private ended(cb?: () => void): (err?: Error | null) => void {
    return (err) => {
      if (err || this.closed) return; // the connection died: 'close' (unfinished) comes from it
      this.writableFinished = true;
      cb?.();
      this.emit('finish');
      this.emitClose();
    };
  }

  destroy(err?: Error): this {
    this.socket.destroy(err);
    return this;
  }

  /** Called by the connection when its socket closed (and once the response finished). */
  emitClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
    this.afterClose?.();
  }

  /** Writes the pending head (once) and `chunk`; a HEAD response never carries a body. */
  private send(chunk: Buffer | undefined, cb?: (err?: Error | null) => void): boolean {
    const body = this.isHead || !chunk || chunk.length === 0 ? undefined : chunk;
    const head = this.head;
    this.head = undefined;
    const s = this.socket;
    if (s.destroyed) {
      // net calls back with an error for writes on a destroyed socket, asynchronously
      if (cb) process.nextTick(cb, new Error('socket closed'));
      return false;
    }
    if (head === undefined && body === undefined) {
      if (cb) process.nextTick(cb, null);
      return true;
    }
    if (head !== undefined && body !== undefined) {
      s.cork();
      s.write(head, 'latin1');
      const ok = s.write(body, cb);
      s.uncork();
      return ok;
    }
    return head !== undefined ? s.write(head, 'latin1', cb) : s.write(body!, cb);
  }
}

export interface RawFrontOptions {
  /**
   * Takes the request (true: it will end or destroy `res`) or leaves it to node:http
   * (false: nothing may have been written).
   */
  handle(req: RawRequest, res: RawResponse): boolean;
  /** node:http's connection listener: adopts a socket handed over. */
  fallback(socket: Socket): void;
  /** Idle time allowed between requests (and for a request head to arrive). */
  keepAliveMs: number;
  /** A request head must be complete this long after its first byte (default 60 s, as node:http). */
  headersTimeoutMs?: number;
}

export interface RawFront {
  /** The server's 'connection' listener. */
  accept(socket: Socket): void;
  /** From now on hand every new request to node:http. */
  stopTaking(): void;
  /** Destroys the connections this front still owns (server close). */
  closeAll(): void;
  closeIdle(): void;
}

/**
 * The request headers the file path reads (lower-case names, as node:http gives them):
 * the conditional ones of http-range.ts plus these; other headers are checked for syntax
 * and otherwise ignored.
 */
export type RawHeaders = ConditionalHeaders & { host?: string; connection?: string; 'user-agent'?: string };

/** A fresh header record of one fixed shape (a literal, no per-request dictionary: V8 keeps access on it fast). */
function newHeaders(): RawHeaders {
  return { host: undefined, range: undefined, connection: undefined, 'user-agent': undefined, 'if-range': undefined,
    'if-match': undefined, 'if-none-match': undefined, 'if-modified-since': undefined, 'if-unmodified-since': undefined };
}

const FIELDS = new Map<string, keyof RawHeaders>(Object.keys(newHeaders()).map((k) => [k, k as keyof RawHeaders]));

/** A parsed head; undefined when node:http should see the request instead. */
export function parseHead(text: string): { method: 'GET' | 'HEAD'; url: string; httpVersion: '1.0' | '1.1'; headers: RawHeaders } | undefined {
  if (CTL_IN_HEAD.test(text)) return undefined;
  let eol = lineEnd(text, 0);
  if (eol === -2) return undefined;
  const m = REQUEST_LINE.exec(eol < 0 ? text : text.slice(0, eol));
  if (!m) return undefined;
  const headers = newHeaders();
  while (eol >= 0) {
    const from = eol + 2;
    eol = lineEnd(text, from);
    if (eol === -2) return undefined;
    const c = text.indexOf(':', from);
    if (c <= from || (eol >= 0 && c > eol)) return undefined;
    const lower = text.slice(from, c).toLowerCase();
    // The stored name is the interned constant from FIELDS, not `lower`: a store keyed by a
    // fresh string costs a string-table lookup per header (seen in perf profiles). A known
    // name is a token by construction (the head is latin1: only ASCII letters lower-case to
    // ASCII letters); any other name is checked.
    const field = FIELDS.get(lower);
    if (field) {
      if (headers[field] !== undefined) return undefined; // repeated: node:http's rules decide
      headers[field] = (eol < 0 ? text.slice(c + 1) : text.slice(c + 1, eol)).trim();
    } else if (!TOKEN.test(lower)) {
      return undefined;
    } else if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'expect' || lower === 'upgrade') {
      // any framing of a body (even `Content-Length: 0`, which GET clients do not send, and
      // which node:http refuses when repeated), 100-continue or a protocol switch: node:http's
      return undefined;
    }
  }
  const httpVersion = m[3] === '1' ? '1.1' : '1.0';
  if (httpVersion === '1.1' && !headers.host) return undefined;
  return { method: m[1] as 'GET' | 'HEAD', url: m[2]!, httpVersion, headers };
}

function wantsKeepAlive(httpVersion: '1.0' | '1.1', connection: string | undefined): boolean {
  const c = connection?.toLowerCase() ?? '';
  return httpVersion === '1.1' ? !/(^|[\s,])close($|[\s,])/.test(c) : /(^|[\s,])keep-alive($|[\s,])/.test(c);
}

export function rawFront(opts: RawFrontOptions): RawFront {
  const owned = new Map<Socket, { busy: () => boolean }>();
  let taking = true;
  const keepAliveSeconds = Math.round(opts.keepAliveMs / 1000);
  const headersTimeoutMs = opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;

  function accept(socket: Socket): void {
    if (!taking) return opts.fallback(socket);
    socket.setNoDelay(true);
    let pending: Buffer | undefined;
    let res: RawResponse | undefined;

    // When the first byte of the head being read arrived (node:http's headersTimeout: a client
    // trickling a byte now and then would otherwise keep refreshing the idle timer forever).
    let headSince = 0;
    const onData = (d: Buffer) => {
      if (!pending) headSince = performance.now();
      pending = pending ? Buffer.concat([pending, d]) : d;
      if (res) {
        if (pending.length > MAX_PENDING) socket.pause();
        return;
      }
      if (performance.now() - headSince > headersTimeoutMs) return void socket.destroy();
      next();
    };
    // One idle timer per connection, refreshed by net on every read and write: it fires
    // after keepAliveMs without traffic; a response in flight (a slow reader) is not cut.
    const onTimeout = () => {
      if (!res) socket.destroy();
    };
    const onError = () => {
      // ECONNRESET and friends: 'close' follows and ends the response as aborted.
    };
    // The server socket allows half-open connections (node:http's setting): a client that
    // sends its requests and then FIN still gets every answer, then our FIN.
    let ended = false;
    const onEnd = () => {
      ended = true;
      next();
    };
    const onClose = () => {
      owned.delete(socket);
      res?.emitClose();
      res = undefined;
    };

    /** Gives the socket and every byte not yet answered to node:http. */
    const handOver = () => {
      owned.delete(socket);
      socket.off('data', onData);
      socket.off('timeout', onTimeout);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off('end', onEnd);
      socket.setTimeout(0);
      socket.pause();
      if (pending) socket.unshift(pending);
      pending = undefined;
      opts.fallback(socket);
      // node:http listens for 'data' now; let the pushed-back bytes flow to it.
      process.nextTick(() => {
        if (!socket.destroyed) socket.resume();
      });
    };

    /** Answers the next complete request in `pending`, if any. */
    const next = (): void => {
      if (res || socket.destroyed) return;
      if (!pending) {
        // The client half-closed (FIN) and everything it sent is answered: close our side.
        if (ended) socket.end();
        return;
      }
      // latin1: one char per byte, so string offsets are byte offsets (and a string search
      // is cheaper than Buffer#indexOf's argument handling)
      const text = pending.toString('latin1', 0, Math.min(pending.length, MAX_HEAD + 4));
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        if (pending.length > MAX_HEAD) handOver();
        else if (ended) socket.end(); // a partial request that can never complete
        return;
      }
      if (!taking) return handOver();
      const p = parseHead(text.slice(0, end));
      if (!p) return handOver();
      const keepAlive = wantsKeepAlive(p.httpVersion, p.headers.connection);
      const req: RawRequest = { method: p.method, url: p.url, httpVersion: p.httpVersion, headers: p.headers, socket };
      // When the response is done: the next pipelined request, if the connection lives on.
      const r: RawResponse = new RawResponse(socket, p.method === 'HEAD', keepAlive, keepAliveSeconds, () => {
        if (res !== r) return;
        res = undefined;
        if (!r.writableFinished || !keepAlive || socket.destroyed) return;
        if (socket.isPaused()) socket.resume();
        next();
      });
      let taken: boolean;
      try {
        taken = opts.handle(req, r);
      } catch {
        // never expected (the handler answers its own errors); the server must not crash on traffic
        socket.destroy();
        return;
      }
      if (!taken) return handOver();
      res = r;
      const rest = end + 4 < pending.length ? pending.subarray(end + 4) : undefined;
      pending = rest;
      headSince = performance.now(); // a pipelined head already here starts its clock now
    };

    owned.set(socket, { busy: () => res !== undefined });
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('end', onEnd);
    socket.on('timeout', onTimeout);
    socket.setTimeout(opts.keepAliveMs);
  }

  return {
    accept,
    stopTaking() {
      taking = false;
    },
    closeAll() {
      for (const s of [...owned.keys()]) s.destroy();
    },
    closeIdle() {
      for (const [s, c] of [...owned]) if (!c.busy()) s.destroy();
    },
  };
}
