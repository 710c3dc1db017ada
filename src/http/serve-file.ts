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
import { sendBody, sendSegments, type Segment, type SendProgress, type SendResult } from './file-sender.js';
import type { ContentCache } from './content-cache.js';


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
    m = { facts, etag: etagOf(facts), lastModified: lastModifiedOf(facts), type: contentTypeOf(file.path) };
    metaOf.set(st, m);
  }
  return m;
}

/**
 * Serves an opened, confined regular file (safe-path.ts openInside); closes it when done.
 * With a content cache, whole-file and single-range bodies of cached files come from memory.
 */
export async function serveFile(req: IncomingMessage, res: ServerResponse, file: OpenedFile, progress: SendProgress = {}, cache?: ContentCache): Promise<FileOutcome> {
  const head = req.method === 'HEAD';
  const st = file.stat;
  const { facts, etag, lastModified, type } = fileMeta(file);
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
      res.writeHead(200, { etag, 'last-modified': lastModified, 'accept-ranges': 'bytes', 'content-type': type, 'content-length': st.size });
      segments = st.size > 0 ? [{ start: 0, end: st.size - 1 }] : [];
      break;
    case 206: {
      if (d.ranges.length === 1) {
        const r = d.ranges[0]!;
        res.writeHead(206, {
          etag,
          'last-modified': lastModified,
          'accept-ranges': 'bytes',
          'content-type': type,
          'content-length': r.end - r.start + 1,
          'content-range': `bytes ${r.start}-${r.end}/${st.size}`,
        });
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
