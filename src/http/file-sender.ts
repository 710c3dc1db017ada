/**
 * Streams byte ranges of an open file into an HTTP response fast, without sendfile.
 *
 * Node has no sendfile(2), and fs.createReadStream's 64 KiB chunks (16 KiB under
 * @fastify/static) reach only 0.16–0.2× nginx on loopback. Here each response keeps a
 * small pipeline of large pooled buffers: while the socket drains one buffer, the next
 * is being read from the file on the libuv thread pool. A buffer goes back to the pool
 * only from its write callback, i.e. once the kernel has the bytes, so nothing is copied
 * in JS and nothing is reused early. Memory per response is bounded by
 * BUFFERS_PER_RESPONSE × CHUNK.
 */
import { read, readSync } from 'node:fs';
import { fsSyncGate, SYNC_READ_MAX } from './sync-gate.js';
import type { ServerResponse } from 'node:http';

/** Read size: large reads amortise the thread-pool hop (measured: 1 MiB ≈ nginx on 1 GiB). */
export const CHUNK = 1 << 20;
/** Reads ahead per response: one buffer in the socket, one being filled, one spare. */
export const BUFFERS_PER_RESPONSE = 3;
/** Free buffers kept for reuse (beyond this they are left to the GC). */
const POOL_MAX = 32;

const pool: Buffer[] = [];

export function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

export function giveBuffer(b: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

/** A piece of the body: literal bytes (multipart framing) or an inclusive file range. */
export type Segment = Buffer | { start: number; end: number };

export interface SendResult {
  /** Body bytes handed to the socket. */
  bytes: number;
  outcome: 'ok' | 'aborted' | 'error';
  error?: Error;
}

/**
 * Updated while sending, so that a 'close' listener on the response (access log,
 * metrics) sees the final figures even before the promise's continuation runs.
 */
export interface SendProgress {
  bytes?: number;
  outcome?: string;
  reason?: string;
}

/**
 * Writes `segments` of the open `file` to `res` (headers already set by the caller), then
 * ends the response and closes the file. Resolves when done, when the client went away
 * (outcome 'aborted') or on a read error (the connection is destroyed: the status line
 * has already gone out).
 */
export function sendSegments(file: { fd: number; close(): void }, segments: Segment[], res: ServerResponse, progress: SendProgress = {}): Promise<SendResult> {
  const one = segments.length === 1 ? segments[0]! : undefined;
  if (one && !Buffer.isBuffer(one) && one.end - one.start + 1 <= SYNC_READ_MAX && fsSyncGate.allowed()) {
    const sent = sendSmall(file, one, res, progress);
    if (sent) return sent;
  }
  const fd = file.fd;
  return new Promise((resolve) => {
    let seg = 0;
    let pos = segments.length > 0 && !Buffer.isBuffer(segments[0]) ? (segments[0] as { start: number }).start : 0;
    let reading = false;
    let writesPending = 0;
    let bytes = 0;
    let finished = false;
    let ownBuffers = 0;
    progress.bytes = 0;
    const free: Buffer[] = [];

    const finish = (outcome: SendResult['outcome'], error?: Error) => {
      if (finished) return;
      finished = true;
      res.off('close', onClose);
      file.close();
      for (const b of free) giveBuffer(b);
      free.length = 0;
      progress.outcome = outcome;
      if (error) progress.reason = error.message;
      if (outcome === 'ok') {
        if (!res.writableEnded) res.end();
      } else if (outcome === 'error') res.destroy(error);
      resolve({ bytes, outcome, error });
    };
    const onClose = () => finish('aborted');
    res.once('close', onClose);

    const written = (b: Buffer | undefined) => (err?: Error | null) => {
      writesPending--;
      if (b) {
        // After an abort the socket may still hold the bytes: let such buffers go to the GC.
        if (!err && !finished) free.push(b);
      }
      if (err) return finish('aborted');
      pump();
    };

    const pump = (): void => {
      while (!finished && !reading && seg < segments.length) {
        const s = segments[seg]!;
        if (Buffer.isBuffer(s)) {
          writesPending++;
          bytes += s.length;
          progress.bytes = bytes;
          res.write(s, written(undefined));
          seg++;
          const next = segments[seg];
          if (next && !Buffer.isBuffer(next)) pos = next.start;
          continue;
        }
        if (pos > s.end) {
          seg++;
          const next = segments[seg];
          if (next && !Buffer.isBuffer(next)) pos = next.start;
          continue;
        }
        let b = free.pop();
        if (!b) {
          if (ownBuffers >= BUFFERS_PER_RESPONSE) return; // wait for a write callback
          b = takeBuffer();
          ownBuffers++;
        }
        const want = Math.min(CHUNK, s.end - pos + 1);
        const at = pos;
        pos += want;
        reading = true;
        const buf = b;
        const onRead = (err: Error | null, n: number) => {
          reading = false;
          if (finished) return;
          if (err || n === 0) {
            // n === 0: the file shrank under us; the promised Content-Length cannot be met.
            return finish('error', err ?? new Error('file truncated while sending'));
          }
          if (n < want) pos = at + n; // short read: fetch the rest next round
          writesPending++;
          bytes += n;
          progress.bytes = bytes;
          const chunk = n === buf.length ? buf : buf.subarray(0, n);
          // The body's last bytes: end() sends them and finishes in one go (no extra tick).
          if (n === want && pos > s.end && seg === segments.length - 1) res.end(chunk, written(buf));
          else res.write(chunk, written(buf));
          pump();
        };
        // A small body (one range of a squashfs, a script-sized file) is read synchronously
        // while the gate sees page-cache speed: no thread-pool round trip (sync-gate.ts).
        if (want <= SYNC_READ_MAX && bytes === 0 && fsSyncGate.allowed()) {
          let n: number;
          try {
            n = fsSyncGate.run(() => readSync(fd, buf, 0, want, at));
          } catch (err) {
            onRead(err as Error, 0);
            continue;
          }
          onRead(null, n);
        } else {
          read(fd, buf, 0, want, at, onRead);
        }
      }
      if (!finished && !reading && seg >= segments.length && writesPending === 0) finish('ok');
    };
    pump();
  });
}

/**
 * One small range (an iPXE/HTTP Boot range request, a script-sized file): one synchronous
 * pread into a pooled buffer, then the body goes out with `res.end` in the same turn as
 * the headers (one writev), no pipeline state. Returns undefined, having sent nothing,
 * when the read came up short (the file shrank): the general path then deals with it.
 */
function sendSmall(file: { fd: number; close(): void }, r: { start: number; end: number }, res: ServerResponse, progress: SendProgress): Promise<SendResult> | undefined {
  const want = r.end - r.start + 1;
  const b = takeBuffer();
  let n: number;
  try {
    n = fsSyncGate.run(() => readSync(file.fd, b, 0, want, r.start));
  } catch (err) {
    giveBuffer(b);
    file.close();
    Object.assign(progress, { bytes: 0, outcome: 'error', reason: (err as Error).message });
    res.destroy(err as Error);
    return Promise.resolve({ bytes: 0, outcome: 'error', error: err as Error });
  }
  if (n !== want) {
    giveBuffer(b);
    return undefined;
  }
  file.close();
  progress.bytes = n;
  progress.outcome = 'ok';
  return new Promise((resolve) => {
    // 'finish': the kernel has the bytes, the buffer may be reused. 'close' without
    // 'finish': the client went away; the socket may still hold the buffer, leave it to the GC.
    const onClose = () => {
      progress.outcome = 'aborted';
      resolve({ bytes: n, outcome: 'aborted' });
    };
    res.once('close', onClose);
    res.end(b.subarray(0, n), () => {
      res.off('close', onClose);
      giveBuffer(b);
      resolve({ bytes: n, outcome: 'ok' });
    });
  });
}

/** Slice of a body from memory handed to the socket per write (progress granularity). */
const MEMORY_SLICE = 4 << 20;

/**
 * A body from memory (content-cache.ts): written in 4 MiB slices straight from the cached
 * buffer; libuv writes each as the socket drains, no reads, no copies in JS, no buffer of
 * our own. `progress.bytes` counts slices the kernel has taken, so an aborted download
 * reports at most one slice more than the client got. `progress` is final before the
 * response's other 'close' listeners (access log) run.
 */
export function sendBody(body: Buffer, res: ServerResponse, progress: SendProgress = {}): Promise<SendResult> {
  const sock = res.socket;
  progress.bytes = 0;
  return new Promise((resolve) => {
    let done = false;
    let at = 0;
    const end = (outcome: 'ok' | 'aborted') => {
      if (done) return;
      done = true;
      res.off('close', onClose);
      progress.outcome = outcome;
      resolve({ bytes: at, outcome });
    };
    const onClose = () => end('aborted');
    // Before the access log's own 'close' listener (registered when the request began).
    res.prependOnceListener('close', onClose);
    const next = () => {
      const n = Math.min(MEMORY_SLICE, body.length - at);
      // A write cut short by the socket's destruction (client reset) is called back without
      // an error (node:net onWriteComplete on a destroyed stream), hence the destroyed check.
      res.write(body.subarray(at, at + n), (err) => {
        if (done) return;
        if (err || sock?.destroyed) return end('aborted');
        at += n;
        progress.bytes = at;
        if (at < body.length) return next();
        end('ok');
      });
      if (at + n >= body.length) res.end();
    };
    if (body.length === 0) {
      res.end();
      end('ok');
    } else next();
  });
}
