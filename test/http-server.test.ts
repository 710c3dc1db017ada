/**
 * HTTP boot service with real clients: curl for full downloads, HEAD, single, suffix and
 * multi-range requests (the multipart body parsed strictly and every part's bytes
 * checked), conditional requests (304/412, If-Range), 416; OVMF HTTP Boot's HEAD-then-GET
 * with a port-less Host; the traversal corpus (curl --path-as-is, raw sockets for NUL and
 * backslashes, symlinks out of the root, a FIFO); metrics, healthz, access-log facts in
 * boot events, an aborted download.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync, utimesSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { jsonLogger } from '../src/log.js';
import { lineWriter, type AccessLine } from '../src/http/access-log.js';
import { curl, parseByteranges, rawRequest, startTestHttp, tempDir, type TestHttp } from './http-helpers.js';

const { dir, cleanup } = tempDir('ltsp-http-');
const tftpDir = join(dir, 'tftp');
const baseDir = join(dir, 'base');
const SECRET = 'TOP-SECRET-' + randomBytes(8).toString('hex');
const big = randomBytes(3 * 1024 * 1024 + 77); // spans several 1 MiB read chunks
const kernel = randomBytes(100_000);
const MTIME = new Date('2026-01-02T03:04:05Z');
let t: TestHttp;

beforeAll(async () => {
  mkdirSync(join(tftpDir, 'ltsp', 'x86_64'), { recursive: true });
  mkdirSync(join(baseDir, 'images'), { recursive: true });
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  writeFileSync(join(tftpDir, 'outside-ltsp.txt'), 'inside the TFTP root, outside ltsp/');
  writeFileSync(join(tftpDir, 'ltsp', 'big.img'), big);
  writeFileSync(join(tftpDir, 'ltsp', 'x86_64', 'vmlinuz'), kernel);
  writeFileSync(join(tftpDir, 'ltsp', 'empty'), '');
  writeFileSync(join(tftpDir, 'ltsp', '..hidden'), 'dots are fine inside a name');
  utimesSync(join(tftpDir, 'ltsp', 'x86_64', 'vmlinuz'), MTIME, MTIME);
  symlinkSync('../../secret.txt', join(tftpDir, 'ltsp', 'escape'));
  symlinkSync('/etc', join(tftpDir, 'ltsp', 'etc-link'));
  symlinkSync('x86_64/vmlinuz', join(tftpDir, 'ltsp', 'inside-link'));
  symlinkSync('../outside-ltsp.txt', join(tftpDir, 'ltsp', 'up-link'));
  execFileSync('mkfifo', [join(tftpDir, 'ltsp', 'fifo')]);
  t = await startTestHttp({ tftpDir, baseDir });
});
afterAll(async () => {
  await t?.server.close();
  cleanup();
});

const url = (p: string) => `${t.base}${p}`;

describe('GET and HEAD', () => {
  it('serves a file with length, validators and its exact bytes', async () => {
    const r = await curl(dir, [url('/ltsp/big.img')]);
    expect(r.status).toBe(200);
    expect(r.body.equals(big)).toBe(true);
    expect(r.headers['content-length']).toBe(String(big.length));
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    expect(r.headers['content-type']).toBe('application/octet-stream');
  });
  it('Last-Modified is the file mtime', async () => {
    const r = await curl(dir, [url('/ltsp/x86_64/vmlinuz')]);
    expect(r.headers['last-modified']).toBe(MTIME.toUTCString());
    expect(r.body.equals(kernel)).toBe(true);
  });
  it('HEAD: same headers, no body', async () => {
    const r = await curl(dir, ['-I', url('/ltsp/big.img')]);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(big.length));
    // curl -I prints the headers as the body: check on the wire that nothing follows them
    const raw = await rawRequest(t.server.port, 'HEAD /ltsp/big.img HTTP/1.1\r\nHost: x\r\n\r\n', 500);
    expect(raw.status).toBe(200);
    expect(raw.raw.length).toBe(raw.raw.indexOf('\r\n\r\n') + 4);
  });
  it('an empty file', async () => {
    const r = await curl(dir, [url('/ltsp/empty')]);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe('0');
  });
  it('symlinks inside the TFTP root are followed', async () => {
    expect((await curl(dir, [url('/ltsp/inside-link')])).body.equals(kernel)).toBe(true);
    expect((await curl(dir, [url('/ltsp/up-link')])).body.toString()).toContain('outside ltsp/');
  });
  it('OVMF HTTP Boot: HEAD then GET, UefiHttpBoot user agent, Host without the port', async () => {
    const req = (m: string) =>
      `${m} /ltsp/x86_64/vmlinuz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: UefiHttpBoot/1.0\r\nAccept: */*\r\n\r\n`;
    const head = await rawRequest(t.server.port, req('HEAD'), 1000);
    expect(head.status).toBe(200);
    expect(head.text).toMatch(/content-length: 100000/i);
    const get = await rawRequest(t.server.port, req('GET'));
    expect(get.status).toBe(200);
    expect(get.raw.subarray(get.raw.indexOf('\r\n\r\n') + 4).equals(kernel)).toBe(true);
  });
});

describe('ranges', () => {
  it('single range → 206 with Content-Range', async () => {
    const r = await curl(dir, ['-r', '100-199', url('/ltsp/big.img')]);
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 100-199/${big.length}`);
    expect(r.body.equals(big.subarray(100, 200))).toBe(true);
  });
  it('suffix range (last N bytes)', async () => {
    const r = await curl(dir, ['-r', '-500', url('/ltsp/big.img')]);
    expect(r.status).toBe(206);
    expect(r.body.equals(big.subarray(big.length - 500))).toBe(true);
  });
  it('open-ended range crossing read-chunk boundaries', async () => {
    const r = await curl(dir, ['-r', '1048000-', url('/ltsp/big.img')]);
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 1048000-${big.length - 1}/${big.length}`);
    expect(r.body.equals(big.subarray(1048000))).toBe(true);
  });
  it('a range past the end is clamped', async () => {
    const r = await curl(dir, ['-r', `${big.length - 10}-${big.length + 1000}`, url('/ltsp/big.img')]);
    expect(r.status).toBe(206);
    expect(r.body.equals(big.subarray(big.length - 10))).toBe(true);
  });
  it('multiple ranges → 206 multipart/byteranges with each part exact', async () => {
    const specs: [number, number][] = [
      [0, 9],
      [1048570, 2100000], // spans two chunk boundaries
      [big.length - 5, big.length - 1],
    ];
    const r = await curl(dir, ['-r', '0-9,1048570-2100000,-5', url('/ltsp/big.img')]);
    expect(r.status).toBe(206);
    expect(Number(r.headers['content-length'])).toBe(r.body.length);
    const parts = parseByteranges(r.body, r.headers['content-type']!);
    expect(parts).toHaveLength(3);
    parts.forEach((p, i) => {
      const [a, b] = specs[i]!;
      expect(p.headers['content-range']).toBe(`bytes ${a}-${b}/${big.length}`);
      expect(p.headers['content-type']).toBe('application/octet-stream');
      expect(p.body.equals(big.subarray(a, b + 1))).toBe(true);
    });
  });
  it('multiple ranges where one is unsatisfiable: the others are served', async () => {
    const r = await curl(dir, ['-r', `0-1,${big.length + 5}-${big.length + 9},4-5`, url('/ltsp/big.img')]);
    expect(r.status).toBe(206);
    const parts = parseByteranges(r.body, r.headers['content-type']!);
    expect(parts.map((p) => p.headers['content-range'])).toEqual([`bytes 0-1/${big.length}`, `bytes 4-5/${big.length}`]);
  });
  it('hundreds of ranges never produce a 200 with the full body', async () => {
    const many = Array.from({ length: 300 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',');
    const r = await curl(dir, ['-r', many, url('/ltsp/big.img')]);
    expect(r.status).toBe(206);
    expect(r.body.length).toBeLessThan(big.length);
  });
  it('unsatisfiable → 416 with Content-Range */size', async () => {
    const r = await curl(dir, ['-r', `${big.length}-`, url('/ltsp/big.img')]);
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe(`bytes */${big.length}`);
    expect((await curl(dir, ['-r', '0-', url('/ltsp/empty')])).status).toBe(416);
  });
  it('malformed Range headers are ignored (200, full body)', async () => {
    for (const h of ['bytes=5-2', 'bytes=abc', 'items=0-5', 'bytes=1-2-3']) {
      const r = await curl(dir, ['-H', `Range: ${h}`, url('/ltsp/x86_64/vmlinuz')]);
      expect(r.status, h).toBe(200);
      expect(r.body.length).toBe(kernel.length);
    }
  });
  it('HEAD with a Range: 206 headers only', async () => {
    const r = await curl(dir, ['-I', '-r', '0-99', url('/ltsp/big.img')]);
    expect(r.status).toBe(206);
    expect(r.headers['content-length']).toBe('100');
  });
});

describe('conditional requests', () => {
  let etag: string;
  let lastModified: string;
  beforeAll(async () => {
    const r = await curl(dir, ['-I', url('/ltsp/x86_64/vmlinuz')]);
    etag = r.headers.etag!;
    lastModified = r.headers['last-modified']!;
  });
  it('If-None-Match with the ETag → 304, no body; another ETag → 200', async () => {
    const r = await curl(dir, ['-H', `If-None-Match: "nope", ${etag}`, url('/ltsp/x86_64/vmlinuz')]);
    expect(r.status).toBe(304);
    expect(r.body.length).toBe(0);
    expect(r.headers.etag).toBe(etag);
    expect((await curl(dir, ['-H', 'If-None-Match: "nope"', url('/ltsp/x86_64/vmlinuz')])).status).toBe(200);
    expect((await curl(dir, ['-H', `If-None-Match: W/${etag}`, url('/ltsp/x86_64/vmlinuz')])).status).toBe(304);
  });
  it('If-Modified-Since: same date → 304, older date → 200', async () => {
    expect((await curl(dir, ['-H', `If-Modified-Since: ${lastModified}`, url('/ltsp/x86_64/vmlinuz')])).status).toBe(304);
    const older = new Date(MTIME.getTime() - 60_000).toUTCString();
    expect((await curl(dir, ['-H', `If-Modified-Since: ${older}`, url('/ltsp/x86_64/vmlinuz')])).status).toBe(200);
    // curl's own -z does the same
    expect((await curl(dir, ['-z', lastModified, url('/ltsp/x86_64/vmlinuz')])).status).toBe(304);
  });
  it('If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)', async () => {
    const r = await curl(dir, ['-H', 'If-None-Match: "nope"', '-H', `If-Modified-Since: ${lastModified}`, url('/ltsp/x86_64/vmlinuz')]);
    expect(r.status).toBe(200);
  });
  it('If-Range with the current ETag or date → 206; stale → 200 full body', async () => {
    expect((await curl(dir, ['-r', '0-9', '-H', `If-Range: ${etag}`, url('/ltsp/x86_64/vmlinuz')])).status).toBe(206);
    expect((await curl(dir, ['-r', '0-9', '-H', `If-Range: ${lastModified}`, url('/ltsp/x86_64/vmlinuz')])).status).toBe(206);
    const stale = await curl(dir, ['-r', '0-9', '-H', 'If-Range: "old-etag"', url('/ltsp/x86_64/vmlinuz')]);
    expect(stale.status).toBe(200);
    expect(stale.body.equals(kernel)).toBe(true);
    const weak = await curl(dir, ['-r', '0-9', '-H', `If-Range: W/${etag}`, url('/ltsp/x86_64/vmlinuz')]);
    expect(weak.status).toBe(200);
  });
  it('If-Match / If-Unmodified-Since failing → 412', async () => {
    expect((await curl(dir, ['-H', 'If-Match: "other"', url('/ltsp/x86_64/vmlinuz')])).status).toBe(412);
    expect((await curl(dir, ['-H', `If-Match: ${etag}`, url('/ltsp/x86_64/vmlinuz')])).status).toBe(200);
    const older = new Date(MTIME.getTime() - 60_000).toUTCString();
    expect((await curl(dir, ['-H', `If-Unmodified-Since: ${older}`, url('/ltsp/x86_64/vmlinuz')])).status).toBe(412);
  });
});

describe('confinement: nothing outside the root is served', () => {
  const corpus = [
    '/ltsp/../secret.txt',
    '/ltsp/../../secret.txt',
    '/ltsp/x86_64/../../../secret.txt',
    '/ltsp/./../../secret.txt',
    '/ltsp/%2e%2e/%2e%2e/secret.txt',
    '/ltsp/%2E%2E/%2E%2E/secret.txt',
    '/ltsp/.%2e/.%2e/secret.txt',
    '/ltsp/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/ltsp/..%2f..%2fsecret.txt',
    '/ltsp/..%2F..%2Fsecret.txt',
    '/ltsp/%252e%252e/%252e%252e/secret.txt',
    '/ltsp/%252e%252e%252f%252e%252e%252fsecret.txt',
    '/ltsp/..%5c..%5csecret.txt',
    '/ltsp/%5c..%5c..%5csecret.txt',
    '/ltsp/..%255c..%255csecret.txt',
    '/ltsp/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt',
    '/ltsp/%ef%bc%8e%ef%bc%8e/secret.txt',
    '/ltsp/..;/..;/secret.txt',
    '/ltsp/....//....//secret.txt',
    '/ltsp//etc/passwd',
    '/ltsp/%2fetc%2fpasswd',
    '/ltsp/%2F..%2F..%2Fsecret.txt',
    `/ltsp/${'../'.repeat(30)}etc/passwd`,
    '/ltsp/escape',
    '/ltsp/etc-link/passwd',
    '/ltsp/etc-link/hostname',
    '/ltsp/%00',
    '/ltsp/secret.txt%00.img',
    '/ltsp/x86_64/vmlinuz%00',
    '/ltsp/%',
    '/ltsp/%zz',
    '/ltsp/',
    '/ltsp/x86_64',
    '/ltsp/x86_64/',
    '/ltsp/fifo',
    `/ltsp/${'a'.repeat(5000)}`,
    '/ltsp/images/../../secret.txt',
    '/../secret.txt',
    '/%2e%2e/secret.txt',
  ];
  it.each(corpus.map((p) => [p.length > 80 ? `${p.slice(0, 40)}…(${p.length} chars)` : p, p]))('%s → 400/403/404, no secret', async (_name, p) => {
    const r = await curl(dir, ['--path-as-is', url(p)]);
    expect([400, 403, 404]).toContain(r.status);
    expect(r.body.toString('latin1')).not.toContain(SECRET);
    expect(r.body.toString('latin1')).not.toContain('root:x:0:0');
  });
  it('symlinks out of the root are 403, logged with a reason', async () => {
    expect((await curl(dir, [url('/ltsp/escape')])).status).toBe(403);
    const ev = t.events.filter((e) => e.file === 'escape').at(-1);
    expect(ev?.outcome).toBe('refused');
    expect(ev?.detail?.reason).toMatch(/leaves the root/);
  });
  it('a name that merely contains dots is a file name', async () => {
    expect((await curl(dir, [url('/ltsp/..hidden')])).status).toBe(200);
  });
  const raw = [
    'GET /ltsp/..\\..\\secret.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /ltsp/\\..\\..\\secret.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /ltsp/x86_64\\..\\..\\..\\secret.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /ltsp/a\0b HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /ltsp/../\0/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /ltsp/%00/../../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET ../../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /ltsp/../../secret.txt HTTP/1.0\r\n\r\n',
    'GET http://x/ltsp/../../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GARBAGE\r\n\r\n',
  ];
  it.each(raw.map((r) => [JSON.stringify(r.split('\r\n')[0]), r]))('raw socket %s → 4xx, no secret', async (_name, req) => {
    const r = await rawRequest(t.server.port, req);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.text).not.toContain(SECRET);
  });
  it('the server is still up after the corpus', async () => {
    expect((await curl(dir, [url('/healthz')])).body.toString()).toBe('ok\n');
  });
  it('symlinks out of the root are followed only when tftp.followSymlinksOutside is on', async () => {
    const t2 = await startTestHttp({ tftpDir, baseDir }, {}, { tftp: { followSymlinksOutside: true } });
    try {
      expect((await curl(dir, [`${t2.base}/ltsp/escape`])).body.toString()).toBe(SECRET);
      expect((await curl(dir, ['--path-as-is', `${t2.base}/ltsp/../../secret.txt`])).status).toBe(400);
    } finally {
      await t2.server.close();
    }
  });
});

describe('observability', () => {
  it('/metrics in Prometheus text format with requests, bytes and in-flight by route and status', async () => {
    await curl(dir, [url('/ltsp/x86_64/vmlinuz')]);
    const r = await curl(dir, [url('/metrics')]);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = r.body.toString();
    expect(text).toMatch(/^# TYPE ltsp_http_requests_total counter$/m);
    expect(text).toMatch(/^ltsp_http_requests_total\{route="file",status="200"\} \d+$/m);
    expect(text).toMatch(/^ltsp_http_requests_total\{route="file",status="404"\} \d+$/m);
    expect(text).toMatch(/^ltsp_http_response_bytes_total\{route="file",status="200"\} \d+$/m);
    expect(text).toMatch(/^ltsp_http_requests_in_flight\{route="metrics"\} 1$/m);
    expect(text).toMatch(/^ltsp_http_requests_in_flight\{route="file"\} 0$/m);
  });
  it('/healthz', async () => {
    const r = await curl(dir, [url('/healthz')]);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok\n');
  });
  it('a boot event per file request with ip, file, bytes, duration, status', async () => {
    const before = t.events.length;
    await curl(dir, ['-r', '10-19', url('/ltsp/x86_64/vmlinuz')]);
    const e = t.events.slice(before).find((x) => x.file === 'x86_64/vmlinuz');
    expect(e).toMatchObject({ service: 'http', kind: 'request', ip: '127.0.0.1', bytes: 10, outcome: 'ok' });
    expect(e?.detail).toMatchObject({ status: 206, method: 'GET', range: 'bytes=10-19' });
    expect(e?.durationMs).toBeGreaterThanOrEqual(0);
  });
  it('a client that goes away mid-download: event outcome aborted, in-flight back to 0', async () => {
    // Larger than loopback's socket buffers (4 MiB send + the receive window of a client
    // that never reads), so the server cannot hand it all to the kernel, from disk or from
    // memory (content cache) alike.
    const huge = randomBytes(24 * 1024 * 1024);
    writeFileSync(join(tftpDir, 'ltsp', 'huge.img'), huge);
    for (const pass of ['first (from disk)', 'second (from memory once cached)']) {
      const before = t.events.length;
      await new Promise<void>((resolve, reject) => {
        const s = connect(t.server.port, '127.0.0.1', () => {
          s.pause();
          s.write('GET /ltsp/huge.img HTTP/1.1\r\nHost: x\r\n\r\n');
          setTimeout(() => (s.resetAndDestroy(), resolve()), 200);
        });
        s.on('error', reject);
      });
      for (let i = 0; i < 100 && !t.events.slice(before).some((e) => e.file === 'huge.img'); i++) await new Promise((r) => setTimeout(r, 20));
      const e = t.events.slice(before).find((x) => x.file === 'huge.img');
      expect(e?.outcome, pass).toBe('aborted');
      expect(e?.bytes, pass).toBeLessThan(huge.length);
      expect(t.metrics.render()).toMatch(/^ltsp_http_requests_in_flight\{route="file"\} 0$/m);
    }
    expect((await curl(dir, [url('/ltsp/huge.img')])).body.equals(huge)).toBe(true);
  });
  it('the node:http fast path and the fastify file route answer alike (a %-encoded name takes fastify)', async () => {
    // '%2E' forces the request through fastify's router; the plain name takes the fast path.
    const pairs: [string[], string[]][] = [
      [[url('/ltsp/x86_64/vmlinuz')], [url('/ltsp/x86_64/vmlinu%7A')]],
      [['-r', '5-9,20-29', url('/ltsp/x86_64/vmlinuz')], ['-r', '5-9,20-29', url('/ltsp/x86_64%2Fvmlinuz')]],
      [['-I', url('/ltsp/x86_64/vmlinuz')], ['-I', url('/ltsp/x86_64%2Fvmlinuz')]],
      [[url('/ltsp/no-such-file')], [url('/ltsp/no-such-fil%65')]],
      [['-I', url('/ltsp/no-such-file')], ['-I', url('/ltsp/no-such-fil%65')]],
      [[url('/ltsp/escape')], [url('/ltsp/escap%65')]],
      [[url('/ltsp/x86_64')], [url('/ltsp/x86_6%34')]],
    ];
    const comparable = (h: Record<string, string>) => {
      const { date: _d, ...rest } = h;
      // multipart boundaries are random per response
      return { ...rest, 'content-type': rest['content-type']?.replace(/boundary=\w+/, 'boundary=B') };
    };
    for (const [fast, slow] of pairs) {
      const before = t.events.length;
      const a = await curl(dir, fast);
      const b = await curl(dir, slow);
      expect(a.status, fast.join(' ')).toBe(b.status);
      expect(comparable(a.headers), fast.join(' ')).toEqual(comparable(b.headers));
      const boundary = (r: typeof a) => /boundary=(\w+)/.exec(r.headers['content-type'] ?? '')?.[1];
      // (curl -I writes the headers as the body: the Date line may differ by a second)
      const body = (r: typeof a) =>
        (boundary(r) ? r.body.toString('latin1').split(boundary(r)!).join('B') : r.body.toString('latin1')).replace(/^Date: .*$/im, 'Date: D');
      expect(body(a), fast.join(' ')).toBe(body(b));
      for (let i = 0; i < 100 && t.events.length < before + 2; i++) await new Promise((r) => setTimeout(r, 10));
      const [ea, eb] = t.events.slice(before);
      expect(ea?.file).toBe(eb?.file);
      expect(ea?.outcome).toBe(eb?.outcome);
      expect(ea?.bytes).toBe(eb?.bytes);
      expect(ea?.detail).toEqual(eb?.detail);
    }
  });
  it('unknown routes are 404, other methods are not served', async () => {
    expect((await curl(dir, [url('/nope')])).status).toBe(404);
    const post = await curl(dir, ['-X', 'POST', '--data', 'x', url('/ltsp/big.img')]);
    expect([404, 405]).toContain(post.status);
    const del = await curl(dir, ['-X', 'DELETE', url('/ltsp/big.img')]);
    expect([404, 405]).toContain(del.status);
  });
});

describe('a file replaced on disk', () => {
  it('a download in flight keeps the old bytes; the next request gets the new file (open-file cache)', async () => {
    const size = 24 * 1024 * 1024; // far more than the server reads ahead plus the socket buffers
    const v1 = randomBytes(size);
    const v2 = Buffer.alloc(size, 0x42);
    const name = join(tftpDir, 'ltsp', 'replaced.img');
    writeFileSync(name, v1);
    try {
      expect((await curl(dir, ['-r', '0-9', url('/ltsp/replaced.img')])).body.equals(v1.subarray(0, 10))).toBe(true); // now cached
      const got: Buffer[] = [];
      let n = 0;
      const done = new Promise<Buffer>((resolve, reject) => {
        const s = connect(t.server.port, '127.0.0.1', () => s.write('GET /ltsp/replaced.img HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        s.on('data', (d: Buffer) => {
          got.push(d);
          n += d.length;
          if (n > 0 && got.length === 1) {
            // first bytes are in: stop reading, replace the file, then read on
            s.pause();
            writeFileSync(name + '.tmp', v2);
            renameSync(name + '.tmp', name);
            setTimeout(() => s.resume(), 50);
          }
        });
        s.on('end', () => resolve(Buffer.concat(got)));
        s.on('error', reject);
        setTimeout(() => reject(new Error('download did not finish')), 20_000);
      });
      const raw = await done;
      const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
      expect(body.length).toBe(size);
      expect(body.equals(v1)).toBe(true);
      const next = await curl(dir, ['-r', '0-9', url('/ltsp/replaced.img')]);
      expect(next.body.equals(v2.subarray(0, 10))).toBe(true);
    } finally {
      rmSync(name, { force: true });
    }
  });
});

describe('access log', () => {
  // a plain pino logger (lines through pino at flush) and the daemon's (lines formatted by access-log.ts)
  it.each([
    ['a plain pino logger', (sink: Writable) => pino({ level: 'info' }, sink)],
    ["the daemon's JSON logger", (sink: Writable) => jsonLogger('info', sink)],
  ])('one pino line per request (client, method, path, status, bytes, ms, range), 403 at warn, flushed by close(): %s', async (_name, makeLog) => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const own = await startTestHttp({ tftpDir, baseDir }, {}, { log: makeLog(sink) });
    const access = () => lines.filter((l) => l.method !== undefined);
    try {
      await curl(dir, ['-r', '0-99', `${own.base}/ltsp/x86_64/vmlinuz`]); // fast path
      await curl(dir, [`${own.base}/ltsp/escap%65`]); // fastify route, refused
      for (let i = 0; i < 200 && access().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(access()[0]).toMatchObject({ level: 30, client: '127.0.0.1', method: 'GET', path: '/ltsp/x86_64/vmlinuz', status: 206, bytes: 100, range: 'bytes=0-99', msg: 'GET /ltsp/x86_64/vmlinuz 206' });
      expect(typeof access()[0]!.ms).toBe('number');
      expect(access()[1]).toMatchObject({ level: 40, path: '/ltsp/escap%65', status: 403, reason: 'symlink leaves the root' });
      await curl(dir, [`${own.base}/ltsp/empty`]);
    } finally {
      await own.server.close();
    }
    // the last line was still waiting for its batch: close() wrote it
    expect(access()[2]).toMatchObject({ path: '/ltsp/empty', status: 200, bytes: 0 });
    expect(access()).toHaveLength(3);
    expect(access()[0]!.svc).toBe('http');
  });

  it("access lines formatted for the daemon's logger are the very lines pino writes", () => {
    const text: string[] = [];
    const viaPino: string[] = [];
    const own = jsonLogger('debug', { write: (s: string) => void text.push(s) }).child({ svc: 'http' });
    const ref = jsonLogger('debug', { write: (s: string) => void viaPino.push(s) }).child({ svc: 'http' });
    const w = lineWriter(own)!;
    expect(w).toBeDefined();
    expect(lineWriter(pino({ level: 'info' }))).toBeUndefined(); // a logger not known to write default lines
    const cases: [('info' | 'warn' | 'debug'), AccessLine, string][] = [
      ['info', { client: '10.0.0.5', method: 'GET', path: '/ltsp/x86_64/vmlinuz', status: 206, bytes: 131072, ms: 0.123, range: 'bytes=0-131071', ua: 'iPXE/1.21.1' }, 'GET /ltsp/x86_64/vmlinuz 206'],
      ['warn', { client: '::1', method: 'HEAD', path: '/ltsp/"q"\\b\u0001\t\u2028é☃😀', status: 403, bytes: 0, ms: 12, range: undefined, ua: undefined, aborted: true, reason: 'symlink "leaves" the root' }, 'HEAD /x 403'],
      ['debug', { client: '', method: 'GET', path: undefined, status: 200, bytes: 0, ms: Number.NaN, range: undefined, ua: 'a'.repeat(300) }, 'msg with "quotes"'],
    ];
    // runs of lines that share parts (the writer reuses them from the line before) and
    // lines that change one part at a time
    const base: AccessLine = { client: '10.0.0.7', method: 'GET', path: '/ltsp/images/x86_64.img', status: 206, bytes: 4096, ms: 1.5, range: 'bytes=0-4095', ua: 'iPXE/1.21.1' };
    for (const change of [{}, { range: 'bytes=4096-8191' }, {}, { method: 'HEAD' }, { path: '/ltsp/x86_64/vmlinuz' }, { client: '10.0.0.8' },
      { ua: undefined }, { ua: 'UefiHttpBoot/1.0' }, { status: 200, range: undefined }, { path: undefined }, { path: '/ltsp/"x"' }, {}])
      cases.push(['info', { ...base, ...change }, `${change.method ?? 'GET'} ${'path' in change ? change.path : base.path} ${change.status ?? 206}`]);
    for (const [level, line, msg] of cases) {
      w.write(w.format(level, line, msg));
      ref[level](line, msg);
    }
    // the message derived from the line when not given, as the recorder asks for it
    for (const line of [base, { ...base, status: 200 }, { ...base, status: 200 }]) {
      w.write(w.format('info', line));
      ref.info(line, `${line.method} ${line.path} ${line.status}`);
    }
    const strip = (l: string) => l.replace(/"time":\d+/, '"time":0');
    expect(text.map(strip)).toEqual(viaPino.map(strip));
  });
});
