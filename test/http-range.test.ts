/**
 * The pure HTTP decisions (src/http/http-range.ts, safe-path.ts safeComponents): Range
 * parsing per RFC 9110 §14, the conditional order of §13.2.2, multipart framing lengths,
 * and property tests: whatever the header, ranges stay inside the file and a parse never
 * throws.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_RANGES, decide, etagOf, lastModifiedOf, multipartPlan, parseRange, parseRangeList } from '../src/http/http-range.js';
import { PathRefused, safeComponents } from '../src/http/safe-path.js';
import { normaliseMac, reachedAs } from '../src/http/server.js';
import { SyncGate } from '../src/http/sync-gate.js';

describe('parseRange', () => {
  it("answers the common 'bytes=a-b' form exactly as the general parser does", () => {
    const sizes = [0, 1, 100, 2 ** 30, 2 ** 53 - 1];
    const nums = ['0', '1', '99', '100', '101', '0099', '1073741823', '1073741824', '999999999999999', '9999999999999999'];
    for (const size of sizes)
      for (const a of nums)
        for (const b of nums) {
          const h = `bytes=${a}-${b}`;
          expect(parseRange(h, size)).toEqual(parseRangeList(h, size));
        }
  });
  const size = 1000;
  it.each([
    ['bytes=0-499', [[0, 499]]],
    ['bytes=500-', [[500, 999]]],
    ['bytes=-200', [[800, 999]]],
    ['bytes=-2000', [[0, 999]]],
    ['bytes=990-2000', [[990, 999]]],
    ['bytes= 0-0 , 5-9', [[0, 0], [5, 9]]],
    ['BYTES=1-1', [[1, 1]]],
    ['bytes=0-1,,2-3', [[0, 1], [2, 3]]],
  ])('%s', (h, want) => {
    const r = parseRange(h, size);
    expect(r.kind).toBe('ranges');
    if (r.kind === 'ranges') expect(r.ranges.map((x) => [x.start, x.end])).toEqual(want);
  });
  it.each(['bytes=1000-', 'bytes=-0', 'bytes=5000-6000, 1000-1001'])('%s → unsatisfiable', (h) => {
    expect(parseRange(h, size).kind).toBe('unsatisfiable');
  });
  it.each([undefined, '', 'bytes', 'bytes=', 'bytes=a-b', 'bytes=5-2', 'items=0-1', 'bytes=1-2-3', 'bytes=--1', 'bytes=0x1-2'])(
    '%s → ignored',
    (h) => {
      expect(parseRange(h, size).kind).toBe('none');
    },
  );
  it('an empty file has no satisfiable range', () => {
    expect(parseRange('bytes=0-', 0).kind).toBe('unsatisfiable');
    expect(parseRange('bytes=-5', 0).kind).toBe('unsatisfiable');
  });
  it(`more than ${MAX_RANGES} ranges → only the first`, () => {
    const h = 'bytes=' + Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i}-${i}`).join(',');
    const r = parseRange(h, size);
    expect(r.kind === 'ranges' && r.ranges).toEqual([{ start: 0, end: 0 }]);
  });
  it('property: never throws; every range lies inside the file', () => {
    const spec = fc.oneof(
      fc.tuple(fc.nat(3000), fc.option(fc.nat(3000))).map(([a, b]) => `${a}-${b ?? ''}`),
      fc.nat(3000).map((n) => `-${n}`),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.nat(2000), fc.array(spec, { maxLength: 80 }), fc.constantFrom('bytes=', 'bytes =', 'x='), (sz, specs, unit) => {
        const r = parseRange(unit + specs.join(','), sz);
        if (r.kind === 'ranges') {
          expect(r.ranges.length).toBeGreaterThan(0);
          expect(r.ranges.length).toBeLessThanOrEqual(MAX_RANGES);
          for (const x of r.ranges) {
            expect(x.start).toBeGreaterThanOrEqual(0);
            expect(x.start).toBeLessThanOrEqual(x.end);
            expect(x.end).toBeLessThan(sz);
          }
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('decide (RFC 9110 §13.2.2 order)', () => {
  const f = { size: 100, mtimeMs: 1_700_000_000_500, ino: 42 };
  const etag = etagOf(f);
  const lm = lastModifiedOf(f);
  it.each([
    [{}, 200],
    [{ range: 'bytes=0-9' }, 206],
    [{ range: 'bytes=100-' }, 416],
    [{ 'if-none-match': etag }, 304],
    [{ 'if-none-match': '*' }, 304],
    [{ 'if-none-match': '"x"', 'if-modified-since': lm }, 200],
    [{ 'if-modified-since': lm }, 304],
    [{ 'if-modified-since': 'not a date' }, 200],
    [{ 'if-match': '"x"' }, 412],
    [{ 'if-match': `W/${etag}` }, 412],
    [{ 'if-match': etag, range: 'bytes=0-0' }, 206],
    [{ 'if-unmodified-since': new Date(f.mtimeMs - 5000).toUTCString() }, 412],
    [{ 'if-range': etag, range: 'bytes=0-0' }, 206],
    [{ 'if-range': lm, range: 'bytes=0-0' }, 206],
    [{ 'if-range': '"x"', range: 'bytes=0-0' }, 200],
    [{ 'if-range': '"x"', range: 'bytes=500-' }, 200],
    [{ 'if-range': new Date(f.mtimeMs + 5000).toUTCString(), range: 'bytes=0-0' }, 200],
  ])('%j → %i', (h, status) => {
    expect(decide(h, f).status).toBe(status);
  });
  it('the ETag changes with size, mtime and inode', () => {
    expect(etagOf({ ...f, size: 101 })).not.toBe(etag);
    expect(etagOf({ ...f, mtimeMs: f.mtimeMs + 1 })).not.toBe(etag);
    expect(etagOf({ ...f, ino: 43 })).not.toBe(etag);
  });
});

describe('multipartPlan', () => {
  it('Content-Length equals the bytes of the assembled body', () => {
    const ranges = [
      { start: 0, end: 9 },
      { start: 50, end: 99 },
    ];
    const p = multipartPlan(ranges, 100, 'application/octet-stream', 'B0UND');
    const body = p.heads[0]! + 'x'.repeat(10) + p.heads[1]! + 'y'.repeat(50) + p.tail;
    expect(Buffer.byteLength(body)).toBe(p.contentLength);
    expect(p.heads[0]!.startsWith('--B0UND\r\n')).toBe(true);
    expect(p.heads[1]!.startsWith('\r\n--B0UND\r\n')).toBe(true);
    expect(p.tail).toBe('\r\n--B0UND--\r\n');
  });
});

describe('safeComponents', () => {
  it.each([
    ['x86_64/vmlinuz', ['x86_64', 'vmlinuz']],
    ['a//b/./c', ['a', 'b', 'c']],
    ['%2fetc%2fpasswd', ['etc', 'passwd']],
    ['%252e%252e', ['%2e%2e']],
    ['..hidden', ['..hidden']],
  ])('%s → %j', (p, want) => {
    expect(safeComponents(p)).toEqual(want);
  });
  it.each(['..', 'a/../b', '%2e%2e/x', 'a%2f..%2fb', 'a%5cb', 'a\\b', 'a%00b', '%', '%c0%ae'])('%s → 400', (p) => {
    expect(() => safeComponents(p)).toThrow(PathRefused);
    try {
      safeComponents(p);
    } catch (e) {
      expect((e as PathRefused).status).toBe(400);
    }
  });
  it('empty → 404', () => {
    expect(() => safeComponents('')).toThrow(expect.objectContaining({ status: 404 }));
  });
  it('property: no component is ever "..", empty, or holds "/", "\\\\" or NUL', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('..', '.', '/', '%2e', '%2f', '%5c', '%00', '%25', 'a', '\\', '%'), { maxLength: 12 }), (xs) => {
        try {
          for (const c of safeComponents(xs.join(''))) {
            expect(c).not.toBe('..');
            expect(c).not.toBe('');
            expect(c).not.toMatch(/[/\\\0]/);
          }
        } catch (e) {
          expect(e).toBeInstanceOf(PathRefused);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('request helpers', () => {
  it('normaliseMac', () => {
    expect(normaliseMac('AA-BB-CC-DD-EE-FF')).toBe('aa:bb:cc:dd:ee:ff');
    expect(normaliseMac('aabbccddeeff')).toBe('aa:bb:cc:dd:ee:ff');
    expect(normaliseMac('aa:bb:cc:dd:ee')).toBeUndefined();
    expect(normaliseMac('${mac}')).toBeUndefined();
  });
  it('reachedAs: Host with or without port, missing, IPv6', () => {
    expect(reachedAs('192.168.67.1:8080', '192.168.67.1', 8080)).toEqual({ host: '192.168.67.1', baseUrl: 'http://192.168.67.1:8080' });
    expect(reachedAs('192.168.67.1', '192.168.67.1', 8080)).toEqual({ host: '192.168.67.1', baseUrl: 'http://192.168.67.1:8080' });
    expect(reachedAs(undefined, '::ffff:10.0.0.1', 80)).toEqual({ host: '10.0.0.1', baseUrl: 'http://10.0.0.1' });
    expect(reachedAs('bad host!', '10.0.0.1', 8080).host).toBe('10.0.0.1');
    expect(reachedAs(undefined, 'fd00::1', 8080).baseUrl).toBe('http://[fd00::1]:8080');
  });
});

describe('SyncGate', () => {
  it('stays open while calls are fast, closes for the cool-off after a slow one that read from the disk', () => {
    let now = 0;
    let blocks = 100;
    const gate = new SyncGate(2, 10_000, () => now, () => blocks);
    expect(gate.run(() => ((now += 1), 'fast'))).toBe('fast');
    expect(gate.allowed()).toBe(true);
    gate.run(() => ((now += 5), (blocks += 256))); // a 5 ms disk read
    expect(gate.allowed()).toBe(false);
    now += 9_999;
    expect(gate.allowed()).toBe(false);
    now += 2;
    expect(gate.allowed()).toBe(true);
  });
  it('a slow call without block reads during it (preempted, page cache) keeps the gate open', () => {
    let now = 0;
    let blocks = 7;
    const gate = new SyncGate(2, 10_000, () => now, () => blocks);
    gate.run(() => (now += 30));
    expect(gate.allowed()).toBe(true);
    // block reads over 1 ms before a slow call (an evicted page re-read by a fast call) are not its fault
    gate.run(() => ((now += 0.1), (blocks += 16)));
    expect(gate.allowed()).toBe(true); // fast calls never close it
    now += 1.5;
    gate.run(() => (now += 5));
    expect(gate.allowed()).toBe(true);
    gate.run(() => ((now += 5), (blocks += 8))); // slow and read from the disk
    expect(gate.allowed()).toBe(false);
  });
  it('cool-off: 200 ms after an isolated disk read, doubling while reads keep coming, reset when they stop', () => {
    let now = 0;
    let blocks = 0;
    const gate = new SyncGate(2, 200, () => now, () => blocks, 1000);
    const diskRead = () => gate.run(() => ((now += 5), (blocks += 8)));
    const closedFor = () => {
      let ms = 0;
      while (!gate.allowed()) (now += 1), ms++;
      return ms;
    };
    diskRead();
    expect(closedFor()).toBe(200);
    diskRead(); // right after the cool-off: still cold
    expect(closedFor()).toBe(400);
    diskRead();
    expect(closedFor()).toBe(800);
    diskRead();
    expect(closedFor()).toBe(1000); // capped
    now += 5000; // quiet for a while
    diskRead();
    expect(closedFor()).toBe(200);
  });
  it('a throwing call is still timed and rethrown', () => {
    let now = 0;
    let blocks = 0;
    const gate = new SyncGate(2, 1000, () => now, () => blocks);
    expect(() =>
      gate.run(() => {
        now += 3;
        blocks++;
        throw new Error('EIO');
      }),
    ).toThrow('EIO');
    expect(gate.allowed()).toBe(false);
  });
  it('block reads before the first call (start-up) do not count', () => {
    let now = 0;
    let blocks = 0;
    const gate = new SyncGate(2, 10_000, () => now, () => blocks);
    blocks += 5000; // modules loaded from a cold disk
    gate.run(() => (now += 3)); // first call, preempted
    expect(gate.allowed()).toBe(true);
  });
});

describe('seriesOf (metrics handle used by the HTTP access log)', () => {
  it('counts into the same series as inc(labels), rendered identically', async () => {
    const { MetricsRegistry, seriesOf } = await import('../src/metrics.js');
    const a = new MetricsRegistry();
    const b = new MetricsRegistry();
    const ca = a.counter('x_total', 'x');
    const ga = a.gauge('y', 'y');
    const s = seriesOf(ca, { status: 200, route: 'file' });
    s.inc();
    s.inc(41);
    const g = seriesOf(ga, { route: 'file' });
    g.inc();
    g.inc();
    g.dec();
    b.counter('x_total', 'x').inc({ route: 'file', status: 200 }, 42);
    b.gauge('y', 'y').inc({ route: 'file' });
    expect(a.render()).toBe(b.render());
    expect(ca.get({ route: 'file', status: 200 })).toBe(42);
    // any other Counter implementation still works through inc()
    const seen: number[] = [];
    seriesOf({ inc: (_l, by = 1) => void seen.push(by), get: () => 0 }, {}).dec(3);
    expect(seen).toEqual([-3]);
  });
});
