/**
 * src/http/content-cache.ts alone and inside the HTTP service: hot files are loaded in the
 * background on their first request and then served from memory (full and Range GETs,
 * byte-identical to the file), replaced or rewritten files are never served stale, the
 * byte budget evicts least recently used files, and an aborted download from memory is
 * logged as aborted with fewer bytes than the file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ContentCache } from '../src/http/content-cache.js';
import { curl, startTestHttp, tempDir } from './http-helpers.js';

const { dir, cleanup } = tempDir('ltsp-content-cache-');
afterAll(cleanup);
const MiB = 2 ** 20;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** get() through a fresh descriptor, as a request would. */
function lookup(cache: ContentCache, file: string): Buffer | undefined {
  const fd = openSync(file, 'r');
  try {
    return cache.get(fd, fstatSync(fd), file);
  } finally {
    closeSync(fd);
  }
}

describe('ContentCache', () => {
  it('loads a qualifying file on the first lookup and returns its bytes afterwards', async () => {
    const f = join(dir, 'k1');
    const bytes = randomBytes(MiB + 123);
    writeFileSync(f, bytes);
    const cache = new ContentCache({ maxBytes: 8 * MiB });
    expect(lookup(cache, f)).toBeUndefined();
    await until('the load', () => cache.stats.loads === 1 && lookup(cache, f) !== undefined);
    expect(lookup(cache, f)!.equals(bytes)).toBe(true);
    expect(cache.bytes).toBe(bytes.length);
  });

  it('skips small and too-large files; 0 MiB turns it off', () => {
    const small = join(dir, 'small');
    writeFileSync(small, randomBytes(1000));
    const big = join(dir, 'big');
    writeFileSync(big, randomBytes(3 * MiB));
    const cache = new ContentCache({ maxBytes: 8 * MiB, maxFileBytes: 2 * MiB });
    expect(lookup(cache, small)).toBeUndefined();
    expect(lookup(cache, big)).toBeUndefined();
    expect(cache.stats.loads).toBe(0);
    const off = new ContentCache({ maxBytes: 0 });
    expect(lookup(off, big)).toBeUndefined();
    expect(off.stats.loads).toBe(0);
  });

  it('never returns the bytes of a replaced or rewritten file', async () => {
    const f = join(dir, 'k2');
    writeFileSync(f, Buffer.alloc(MiB, 1));
    const cache = new ContentCache({ maxBytes: 8 * MiB });
    lookup(cache, f);
    await until('the load', () => lookup(cache, f) !== undefined);
    // replaced by rename (new inode), as `ltsp-ts kernel` does
    writeFileSync(`${f}.new`, Buffer.alloc(MiB, 2));
    renameSync(`${f}.new`, f);
    expect(lookup(cache, f)).toBeUndefined();
    await until('the new load', () => lookup(cache, f) !== undefined);
    expect(lookup(cache, f)![0]).toBe(2);
    // rewritten in place, same size: new mtime/ctime
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(f, Buffer.alloc(MiB, 3));
    expect(lookup(cache, f)).toBeUndefined();
    await until('the third load', () => lookup(cache, f) !== undefined);
    expect(lookup(cache, f)![0]).toBe(3);
  });

  it('keeps within its byte budget, evicting the least recently used file', async () => {
    const cache = new ContentCache({ maxBytes: 5 * MiB });
    const files = ['a', 'b', 'c'].map((n, i) => {
      const f = join(dir, `lru-${n}`);
      writeFileSync(f, Buffer.alloc(2 * MiB, i));
      return f;
    });
    for (const f of files.slice(0, 2)) {
      lookup(cache, f);
      await until(`load of ${f}`, () => lookup(cache, f) !== undefined);
    }
    lookup(cache, files[0]!); // a is now more recently used than b
    lookup(cache, files[2]!);
    await until('load of c', () => lookup(cache, files[2]!) !== undefined);
    expect(cache.bytes).toBeLessThanOrEqual(5 * MiB);
    expect(cache.stats.evictions).toBe(1);
    expect(lookup(cache, files[0]!)).toBeDefined();
    expect(lookup(cache, files[1]!)).toBeUndefined();
  });
});

describe('HTTP service with the content cache', () => {
  const tftpDir = join(dir, 'tftp');
  mkdirSync(join(tftpDir, 'ltsp', 'x86_64'), { recursive: true });
  const kernelPath = join(tftpDir, 'ltsp', 'x86_64', 'vmlinuz');
  const kernel = randomBytes(4 * MiB + 77);
  writeFileSync(kernelPath, kernel);
  // Larger than what loopback TCP buffers take at once, so a stalled client cannot get it all.
  const bigPath = join(tftpDir, 'ltsp', 'x86_64', 'initrd.img');
  const big = randomBytes(48 * MiB);
  writeFileSync(bigPath, big);

  it('serves full and Range GETs from memory once loaded, byte-identical to the file', async () => {
    const t = await startTestHttp({ tftpDir, baseDir: tftpDir }, { cacheMB: 64 });
    try {
      const url = `${t.base}/ltsp/x86_64/vmlinuz`;
      const first = await curl(dir, [url]);
      expect(first.status).toBe(200);
      expect(sha(first.body)).toBe(sha(kernel));
      const hits = () => t.metrics.render().match(/ltsp_http_content_cache_total\{result="hit"\} (\d+)/)?.[1];
      // the load runs in the background: later requests are hits
      let again = await curl(dir, [url]);
      for (let i = 0; i < 100 && !hits(); i++) again = await curl(dir, [url]);
      expect(Number(hits())).toBeGreaterThan(0);
      expect(again.status).toBe(200);
      expect(again.headers['content-length']).toBe(String(kernel.length));
      expect(sha(again.body)).toBe(sha(kernel));
      const before = Number(hits());
      const r = await curl(dir, ['-r', '1000-2099999', url]);
      expect(r.status).toBe(206);
      expect(r.headers['content-range']).toBe(`bytes 1000-2099999/${kernel.length}`);
      expect(r.body.equals(kernel.subarray(1000, 2100000))).toBe(true);
      const tail = await curl(dir, ['-r', '-100', url]);
      expect(tail.body.equals(kernel.subarray(kernel.length - 100))).toBe(true);
      expect(Number(hits())).toBe(before + 2);
      const ev = t.events.filter((e) => e.file === 'x86_64/vmlinuz');
      expect(ev.at(-1)).toMatchObject({ outcome: 'ok', bytes: 100 });
    } finally {
      await t.server.close();
    }
  });

  it('a client that goes away mid-body is logged aborted, with fewer bytes than the file', async () => {
    const t = await startTestHttp({ tftpDir, baseDir: tftpDir }, { cacheMB: 64 });
    try {
      const url = `${t.base}/ltsp/x86_64/initrd.img`;
      const hits = () => Number(t.metrics.render().match(/ltsp_http_content_cache_total\{result="hit"\} (\d+)/)?.[1] ?? 0);
      for (let i = 0; i < 100 && hits() === 0; i++) await curl(dir, ['-r', '0-0', url]);
      expect(hits()).toBeGreaterThan(0);
      const n = t.events.length;
      // Ask, never read (the receive window stays small, the server cannot finish), reset.
      const served = hits();
      await new Promise<void>((resolve, reject) => {
        const s = connect(t.server.port, '127.0.0.1', () => {
          s.pause();
          s.write('GET /ltsp/x86_64/initrd.img HTTP/1.1\r\nHost: x\r\n\r\n');
        });
        s.on('error', reject);
        until('the request to be served', () => hits() > served).then(
          () => setTimeout(() => (s.resetAndDestroy(), resolve()), 50),
          reject,
        );
      });
      // (events of the ranged warm-up requests may still come in: pick the one without a range)
      const full = () => t.events.slice(n).find((e) => (e.detail as { range?: string }).range === undefined);
      await until('the aborted request event', () => full() !== undefined);
      const e = full()!;
      expect(e.outcome).toBe('aborted');
      expect(e.file).toBe('x86_64/initrd.img');
      expect(e.bytes).toBeLessThan(big.length);
    } finally {
      await t.server.close();
    }
  });
});
