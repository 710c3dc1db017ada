/**
 * Pure HTTP decisions for static files: Range parsing (RFC 9110 §14), validators (ETag,
 * Last-Modified) and the conditional-request order of RFC 9110 §13.2.2. No I/O here: the
 * file server (serve-file.ts) feeds in the request headers and the file's stat facts and
 * gets back what to send.
 */

/** An inclusive byte range [start, end], as in Content-Range. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Facts about the file that the decisions need. */
export interface FileFacts {
  size: number;
  mtimeMs: number;
  ino: number;
}

/** The request headers that matter (lower-case names, as node:http gives them). */
export interface ConditionalHeaders {
  range?: string;
  'if-range'?: string;
  'if-match'?: string;
  'if-none-match'?: string;
  'if-modified-since'?: string;
  'if-unmodified-since'?: string;
}

/**
 * More ranges than this in one request are answered with the first range only (RFC 9110
 * §14.2 lets a server ignore or coalesce ranges; a few hundred tiny ranges is a DoS pattern).
 */
export const MAX_RANGES = 64;

export type RangeParse =
  /** No Range header, a unit other than bytes, or bad syntax: RFC 9110 says ignore it. */
  | { kind: 'none' }
  /** Syntactically valid but no range overlaps the file: 416. */
  | { kind: 'unsatisfiable' }
  | { kind: 'ranges'; ranges: ByteRange[] };

const DIGITS = /^\d+$/;
/** The form nearly every client sends (iPXE, curl, OVMF): one closed range, nothing else. */
const ONE_CLOSED_RANGE = /^bytes=(\d{1,15})-(\d{1,15})$/;

/** Parses a Range header value against a representation of `size` bytes. */
export function parseRange(header: string | undefined, size: number): RangeParse {
  if (header === undefined) return { kind: 'none' };
  // The common form without the general parser's splits and trims; the same answers.
  const one = ONE_CLOSED_RANGE.exec(header);
  if (one) {
    const start = Number(one[1]);
    const end = Number(one[2]);
    if (end < start) return { kind: 'none' };
    if (start >= size) return { kind: 'unsatisfiable' };
    return { kind: 'ranges', ranges: [{ start, end: Math.min(end, size - 1) }] };
  }
  return parseRangeList(header, size);
}

/** The general Range parser (RFC 9110 §14.1.1 ranges-specifier); parseRange's fast path answers alike. */
export function parseRangeList(header: string, size: number): RangeParse {
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'none' };
  const specs = header.slice(eq + 1).split(',');
  const ranges: ByteRange[] = [];
  let valid = 0;
  for (const raw of specs) {
    const spec = raw.trim();
    if (spec === '') continue; // RFC 9110 list syntax allows empty elements
    const dash = spec.indexOf('-');
    if (dash < 0) return { kind: 'none' };
    const first = spec.slice(0, dash).trim();
    const last = spec.slice(dash + 1).trim();
    if (first === '') {
      // suffix-range: the last N bytes
      if (!DIGITS.test(last)) return { kind: 'none' };
      valid++;
      const n = Number(last);
      if (n === 0 || size === 0) continue;
      ranges.push({ start: Math.max(0, size - n), end: size - 1 });
      continue;
    }
    if (!DIGITS.test(first) || (last !== '' && !DIGITS.test(last))) return { kind: 'none' };
    const start = Number(first);
    const end = last === '' ? Infinity : Number(last);
    if (end < start) return { kind: 'none' }; // invalid range-spec: ignore the whole header
    valid++;
    if (start >= size) continue; // unsatisfiable on its own; others may still be fine
    ranges.push({ start, end: Math.min(end, size - 1) });
  }
  if (valid === 0) return { kind: 'none' };
  if (ranges.length === 0) return { kind: 'unsatisfiable' };
  return { kind: 'ranges', ranges: ranges.length > MAX_RANGES ? ranges.slice(0, 1) : ranges };
}

/** A strong validator from size, mtime and inode: changes whenever the file is replaced. */
export function etagOf(f: FileFacts): string {
  return `"${f.size.toString(16)}-${Math.floor(f.mtimeMs).toString(16)}-${f.ino.toString(16)}"`;
}

/** HTTP-date (IMF-fixdate) of the file's mtime. */
export function lastModifiedOf(f: FileFacts): string {
  return new Date(Math.floor(f.mtimeMs / 1000) * 1000).toUTCString();
}

/** Splits an If-Match / If-None-Match list; '*' is kept as is. */
function entityTags(header: string): string[] {
  return header
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** Weak comparison (RFC 9110 §8.8.3.2): W/ prefixes ignored. */
function weakMatch(list: string, etag: string): boolean {
  const bare = (t: string) => (t.startsWith('W/') ? t.slice(2) : t);
  return entityTags(list).some((t) => t === '*' || bare(t) === bare(etag));
}

/** Strong comparison: both must be strong and equal. */
function strongMatch(list: string, etag: string): boolean {
  return entityTags(list).some((t) => t === '*' || (!t.startsWith('W/') && t === etag));
}

/** Parses an HTTP-date; NaN when it is not one. */
function httpDate(s: string): number {
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : NaN;
}

export type Decision =
  | { status: 304 }
  | { status: 412 }
  | { status: 416 }
  | { status: 200 }
  | { status: 206; ranges: ByteRange[] };

/**
 * What to answer for a GET/HEAD of a file, in the order RFC 9110 §13.2.2 prescribes:
 * If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, then Range + If-Range.
 */
export function decide(h: ConditionalHeaders, f: FileFacts, etag = etagOf(f)): Decision {
  const mtimeSec = Math.floor(f.mtimeMs / 1000);
  if (h['if-match'] !== undefined) {
    if (!strongMatch(h['if-match'], etag)) return { status: 412 };
  } else if (h['if-unmodified-since'] !== undefined) {
    const t = httpDate(h['if-unmodified-since']);
    if (!Number.isNaN(t) && mtimeSec > Math.floor(t / 1000)) return { status: 412 };
  }
  if (h['if-none-match'] !== undefined) {
    if (weakMatch(h['if-none-match'], etag)) return { status: 304 };
  } else if (h['if-modified-since'] !== undefined) {
    const t = httpDate(h['if-modified-since']);
    if (!Number.isNaN(t) && mtimeSec <= Math.floor(t / 1000)) return { status: 304 };
  }
  const r = parseRange(h.range, f.size);
  if (r.kind === 'none') return { status: 200 };
  if (h['if-range'] !== undefined && !ifRangeHolds(h['if-range'], f, etag)) return { status: 200 };
  if (r.kind === 'unsatisfiable') return { status: 416 };
  return { status: 206, ranges: r.ranges };
}

/**
 * If-Range (RFC 9110 §13.1.5): an entity tag must match strongly; a date must equal
 * Last-Modified exactly (our Last-Modified is strong enough: the file is not being written).
 */
function ifRangeHolds(v: string, f: FileFacts, etag: string): boolean {
  const s = v.trim();
  if (s.startsWith('"') || s.startsWith('W/')) return !s.startsWith('W/') && s === etag;
  const t = httpDate(s);
  return !Number.isNaN(t) && Math.floor(t / 1000) === Math.floor(f.mtimeMs / 1000);
}

/** The framing of a multipart/byteranges body: literal parts around the file ranges. */
export interface MultipartPlan {
  boundary: string;
  /** For each range, the part header that precedes its bytes. */
  heads: string[];
  tail: string;
  contentLength: number;
}

/** Builds the multipart/byteranges framing (RFC 9110 §14.6) for `ranges` of a file. */
export function multipartPlan(ranges: ByteRange[], size: number, contentType: string, boundary: string): MultipartPlan {
  const heads = ranges.map(
    (r, i) =>
      `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${r.start}-${r.end}/${size}\r\n\r\n`,
  );
  const tail = `\r\n--${boundary}--\r\n`;
  let contentLength = Buffer.byteLength(tail);
  for (let i = 0; i < ranges.length; i++) contentLength += Buffer.byteLength(heads[i]!) + (ranges[i]!.end - ranges[i]!.start + 1);
  return { boundary, heads, tail, contentLength };
}
