/**
 * Answers GET/HEAD for one already-confined file path: validators, conditional requests,
 * single and multipart ranges, then the body through file-sender.ts.
 */
import type { Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { decide, etagOf, lastModifiedOf, multipartPlan, type ConditionalHeaders, type FileFacts } from './http-range.js';
import type { OpenedFile } from './safe-path.js';
import { giveBuffer, sendBody, sendSegments, takeBuffer, type Segment, type SendProgress, type SendResult } from './file-sender.js';
import { readSync } from 'node:fs';
import { fsSyncGate, SYNC_READ_MAX } from './sync-gate.js';
import type { ContentCache } from './content-cache.js';
import { RawResponse } from './raw-front.js';

/** Bytes kept free before a small body read for the raw front, for the response head (RawResponse.endInPlace). */
const HEADROOM = 1024;


/** What the access log and boot events need to know about one answered file request. */
export interface FileOutcome {
  status: number;
  bytes: number;
  outcome: SendResult['outcome'] | 'refused';
  reason?: string;
}

const TYPES: Record<string, string> = {
  '.ipxe': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.cfg': 'text/plain; charset=utf-8',
  '.conf': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

export function contentTypeOf(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * A short text answer (errors, refusals: `body` plus a newline, as the fastify routes send
 * them); `progress` is filled (outcome 'refused', reason `body`) before the response ends.
 */
export function plain(
  res: ServerResponse,
  progress: SendProgress,
  status: number,
  body: string,
  headers: Record<string, string | number> = {},
  head = false,
): FileOutcome {
  const buf = Buffer.from(body + '\n');
  const out: FileOutcome = { status, bytes: head ? 0 : buf.length, outcome: 'refused', reason: body };
  Object.assign(progress, { bytes: out.bytes, outcome: out.outcome, reason: body });
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': buf.length, ...headers });
  res.end(head ? undefined : buf);
  return out;
}

/** Headers only (304, HEAD). */
function headersOnly(res: ServerResponse, progress: SendProgress, status: number): FileOutcome {
  Object.assign(progress, { bytes: 0, outcome: 'ok' });
  res.end();
  return { status, bytes: 0, outcome: 'ok' };
}

/** What a file's responses share, derived from its stat and name. */
interface FileMeta {
  facts: FileFacts;
  etag: string;
  lastModified: string;
  type: string;
  /** The header lines every 200/206 of the file starts with, as wholeHeaders/rangeHeaders write them. */
  lines: string;
}

/**
 * Per Stats object: open-file-cache.ts hands out the same Stats (and path) for as long as
 * the file is unchanged, so repeated requests skip the date formatting and hex strings.
 */
const metaOf = new WeakMap<Stats, FileMeta>();

function fileMeta(file: OpenedFile): FileMeta {
  let m = metaOf.get(file.stat);
  if (!m) {
    const st = file.stat;
    const facts = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    const etag = etagOf(facts);
    const lastModified = lastModifiedOf(facts);
    const type = contentTypeOf(file.path);
    m = { facts, etag, lastModified, type, lines: `etag: ${etag}\r\nlast-modified: ${lastModified}\r\naccept-ranges: bytes\r\ncontent-type: ${type}\r\n` };
    metaOf.set(st, m);
  }
  return m;
}

function wholeHeaders(m: FileMeta): Record<string, string | number> {
  return { etag: m.etag, 'last-modified': m.lastModified, 'accept-ranges': 'bytes', 'content-type': m.type, 'content-length': m.facts.size };
}

function rangeHeaders(m: FileMeta, r: { start: number; end: number }): Record<string, string | number> {
  return {
    etag: m.etag,
    'last-modified': m.lastModified,
    'accept-ranges': 'bytes',
    'content-type': m.type,
    'content-length': r.end - r.start + 1,
    'content-range': `bytes ${r.start}-${r.end}/${m.facts.size}`,
  };
}

/**
 * The common request answered in the same turn, with no promise and no per-response
 * listener: a 200 or single-range 206 whose body (≤ SYNC_READ_MAX) is in the content cache
 * or takes one pread while the sync gate is open, or any such HEAD. Returns false having
 * written nothing (serveFile then answers); the caller still closes `file`. Measured side by
 * side with nginx (128 KiB ranges, server CPU from schedstat): 173–180 → 138 µs per range,
 * together with raw-front.ts's header parse change.
 */
export function serveFileNow(req: IncomingMessage, res: ServerResponse, file: OpenedFile, progress: SendProgress = {}, cache?: ContentCache): boolean {
  const meta = fileMeta(file);
  const d = decide(req.headers as ConditionalHeaders, meta.facts, meta.etag);
  let r: { start: number; end: number };
  if (d.status === 200) r = { start: 0, end: meta.facts.size - 1 };
  else if (d.status === 206 && d.ranges.length === 1) r = d.ranges[0]!;
  else return false;
  const head = req.method === 'HEAD';
  const want = r.end - r.start + 1;
  const raw = (res as unknown) instanceof RawResponse ? (res as unknown as RawResponse) : undefined;
  let body: Buffer | undefined;
  let pooled: Buffer | undefined;
  let at = 0;
  if (!head && want > 0) {
    if (want > SYNC_READ_MAX) return false;
    body = cache?.get(file.fd, file.stat, file.path)?.subarray(r.start, r.end + 1);
    if (!body) {
      if (!fsSyncGate.allowed()) return false;
      pooled = takeBuffer();
      at = raw ? HEADROOM : 0;
      let n = -1;
      try {
        n = fsSyncGate.run(() => readSync(file.fd, pooled!, at, want, r.start));
      } catch {
        // an I/O error: the general path reports it
      }
      if (n !== want) {
        giveBuffer(pooled);
        return false;
      }
      body = pooled.subarray(at, at + n);
    }
  }
  if (raw) {
    // the lines wholeHeaders/rangeHeaders give, ready-made (the equivalence tests compare both paths)
    const size = meta.facts.size;
    raw.writeHeadLines(d.status, d.status === 200 ? `${meta.lines}content-length: ${size}\r\n` : `${meta.lines}content-length: ${want}\r\ncontent-range: bytes ${r.start}-${r.end}/${size}\r\n`);
  } else res.writeHead(d.status, d.status === 200 ? wholeHeaders(meta) : rangeHeaders(meta, r));
  progress.bytes = body ? body.length : 0;
  progress.outcome = 'ok';
  // The pooled buffer is reused once the kernel has the bytes ('finish'); after an abort the
  // socket may still hold it, so it is left to the GC.
  if (pooled) {
    const done = () => giveBuffer(pooled!);
    if (raw && at > 0) raw.endInPlace(pooled, at, at + want, done);
    else res.end(body, done);
  } else res.end(body);
  return true;
}

/**
 * Serves an opened, confined regular file (safe-path.ts openInside); closes it when done.
 * With a content cache, whole-file and single-range bodies of cached files come from memory.
 */
export async function serveFile(req: IncomingMessage, res: ServerResponse, file: OpenedFile, progress: SendProgress = {}, cache?: ContentCache): Promise<FileOutcome> {
  const head = req.method === 'HEAD';
  const st = file.stat;
  const meta = fileMeta(file);
  const { facts, etag, lastModified, type } = meta;
  const validators = { etag, 'last-modified': lastModified, 'accept-ranges': 'bytes' };
  const d = decide(req.headers as ConditionalHeaders, facts, etag);

  let segments: Segment[];
  switch (d.status) {
    case 304:
      file.close();
      res.writeHead(304, validators);
      return headersOnly(res, progress, 304);
    case 412:
      file.close();
      return plain(res, progress, 412, 'precondition failed', validators, head);
    case 416:
      file.close();
      return plain(res, progress, 416, 'range not satisfiable', { ...validators, 'content-range': `bytes */${st.size}` }, head);
    case 200:
      res.writeHead(200, wholeHeaders(meta));
      segments = st.size > 0 ? [{ start: 0, end: st.size - 1 }] : [];
      break;
    case 206: {
      if (d.ranges.length === 1) {
        const r = d.ranges[0]!;
        res.writeHead(206, rangeHeaders(meta, r));
        segments = [r];
      } else {
        const plan = multipartPlan(d.ranges, st.size, type, randomBytes(12).toString('hex'));
        res.writeHead(206, {
          ...validators,
          'content-type': `multipart/byteranges; boundary=${plan.boundary}`,
          'content-length': plan.contentLength,
        });
        segments = [];
        d.ranges.forEach((r, i) => segments.push(Buffer.from(plan.heads[i]!), r));
        segments.push(Buffer.from(plan.tail));
      }
      break;
    }
  }
  if (head) {
    file.close();
    return headersOnly(res, progress, d.status);
  }
  const one = segments.length === 1 ? segments[0]! : undefined;
  const body = one && !Buffer.isBuffer(one) ? cache?.get(file.fd, st, file.path) : undefined;
  if (body && one && !Buffer.isBuffer(one)) {
    file.close();
    const sent = await sendBody(body.subarray(one.start, one.end + 1), res, progress);
    return { status: d.status, bytes: sent.bytes, outcome: sent.outcome };
  }
  const sent = await sendSegments(file, segments, res, progress);
  return { status: d.status, bytes: sent.bytes, outcome: sent.outcome, reason: sent.error?.message };
}
