/**
 * Squashfs images over HTTP: off by default; when on, only for clients in
 * http.imagesAllow AND with a valid signed token (missing, malformed, expired, forged,
 * other image, other client, other secret → 403, logged). Clients at 127.0.0.2/.3 are
 * real curl processes bound with --interface (all of 127/8 is local on Linux).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { curl, startTestHttp, tempDir, type TestHttp } from './http-helpers.js';
import { createImageTokens } from '../src/http/image-token.js';
import { inSubnets, parseSubnets } from '../src/http/client-subnet.js';
import { loadConfigText } from '../src/config/load.js';
import { ipxeScriptProvider } from '../src/http/script-provider.js';

const { dir, cleanup } = tempDir('ltsp-http-img-');
const tftpDir = join(dir, 'tftp');
const baseDir = join(dir, 'base');
const image = randomBytes(2 * 1024 * 1024 + 3);
const SECRET = 'test-secret-' + randomBytes(4).toString('hex');
let off: TestHttp;
let on: TestHttp;

beforeAll(async () => {
  mkdirSync(join(tftpDir, 'ltsp'), { recursive: true });
  mkdirSync(join(baseDir, 'images'), { recursive: true });
  writeFileSync(join(baseDir, 'images', 'x86_64.img'), image);
  writeFileSync(join(baseDir, 'images', 'x86_32.img'), 'other image');
  off = await startTestHttp({ tftpDir, baseDir }, { tokenSecret: SECRET });
  on = await startTestHttp(
    { tftpDir, baseDir },
    { images: true, imagesAllow: ['127.0.0.1/32', '127.0.0.2', 'not-a-subnet'], tokenSecret: SECRET, tokenTtlSeconds: 60 },
  );
});
afterAll(async () => {
  await off?.server.close();
  await on?.server.close();
  cleanup();
});

const imgUrl = (t: TestHttp, name: string, token?: string) =>
  `${t.base}/ltsp/images/${name}.img${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`;
const from = (ip: string) => ['--interface', ip];

describe('images over HTTP', () => {
  it('the generated iPXE script hands each client image URLs signed for it (HTTP_IMAGES=1)', async () => {
    const conf = `[server]\nHTTP_IMAGES=1\nHTTP_IMAGES_ALLOW="127.0.0.1 127.0.0.2"\nHTTP_TOKEN_SECRET=${SECRET}\n`;
    const loaded = loadConfigText(conf, { overrides: { baseDir, tftpDir } });
    expect(loaded.errors).toEqual([]);
    const gen = await startTestHttp({ tftpDir, baseDir }, { images: true, imagesAllow: ['127.0.0.1', '127.0.0.2'], tokenSecret: SECRET }, { loaded });
    try {
      const scriptFor = async (ip: string) => (await curl(dir, [...from(ip), `${gen.base}/ltsp/ltsp.ipxe`])).body.toString();
      const text = await scriptFor('127.0.0.2');
      expect(text).toMatch(/ ltsp\.image=images\/\$\{img\}\.img loop\.max_part=9 ltsp\.image_url=\$\{image_url\}$/m);
      const urls = Object.fromEntries([...text.matchAll(/^:(\S+)\nset image_url (\S+)$/gm)].map((m) => [m[1], m[2]]));
      expect(Object.keys(urls).sort()).toEqual(['x86_32', 'x86_64']);
      const u = urls.x86_64!;
      expect(u.startsWith(`${gen.base}/ltsp/images/x86_64.img?token=`)).toBe(true);
      // the URL works for the client the script was made for, and for no other
      const r = await curl(dir, [...from('127.0.0.2'), u]);
      expect(r.status).toBe(200);
      expect(r.body.equals(image)).toBe(true);
      expect((await curl(dir, [...from('127.0.0.1'), '-r', '0-9', u])).status).toBe(403);
      // with HTTP_IMAGES off the same generator hands out no image URLs
      const offConf = loadConfigText(conf.replace('HTTP_IMAGES=1', 'HTTP_IMAGES=0'), { overrides: { baseDir, tftpDir } });
      const plain = await ipxeScriptProvider(() => offConf, undefined, undefined, gen.server.tokens)({ clientIp: '127.0.0.2', host: '127.0.0.1', baseUrl: gen.base });
      expect(plain).toContain(':x86_64');
      expect(plain).not.toContain('image_url');
    } finally {
      await gen.server.close();
    }
  });
  it('off by default: 403 even with a valid token, logged with the reason', async () => {
    const token = off.server.tokens.sign('x86_64', '127.0.0.1');
    const r = await curl(dir, [imgUrl(off, 'x86_64', token)]);
    expect(r.status).toBe(403);
    expect(r.body.toString()).toContain('off');
    expect(off.events.at(-1)).toMatchObject({ file: 'images/x86_64.img', outcome: 'refused' });
  });
  it('on: an allowed client with a valid token gets the image, with Range', async () => {
    const token = on.server.tokens.sign('x86_64', '127.0.0.1');
    const r = await curl(dir, [imgUrl(on, 'x86_64', token)]);
    expect(r.status).toBe(200);
    expect(r.body.equals(image)).toBe(true);
    const part = await curl(dir, ['-r', '1048000-1049999', imgUrl(on, 'x86_64', token)]);
    expect(part.status).toBe(206);
    expect(part.body.equals(image.subarray(1048000, 1050000))).toBe(true);
  });
  it('served images take the fast path (raw front) and answer exactly like the fastify route', async () => {
    const answered = () => Number(/ltsp_http_raw_front_total\{result="answered"\} (\d+)/.exec(on.metrics.render())?.[1] ?? 0);
    const token = on.server.tokens.sign('x86_64', '127.0.0.1');
    const q = `?token=${encodeURIComponent(token)}`;
    // '%2E' in the name makes the request fastify's; the plain name is the fast path's
    for (const args of [['-r', '1000-132071'], ['-I'], []]) {
      const before = on.events.length;
      const n0 = answered();
      const a = await curl(dir, [...args, `${on.base}/ltsp/images/x86_64.img${q}`]);
      expect(answered(), args.join(' ')).toBe(n0 + 1);
      const b = await curl(dir, [...args, `${on.base}/ltsp/images/x86_64%2Eimg${q}`]);
      expect(answered(), args.join(' ')).toBe(n0 + 1);
      expect(a.status).toBe(b.status);
      const { date: _a, ...ha } = a.headers;
      const { date: _b, ...hb } = b.headers;
      expect(ha).toEqual(hb);
      expect(a.body.toString('latin1').replace(/^Date: .*$/im, '')).toBe(b.body.toString('latin1').replace(/^Date: .*$/im, ''));
      for (let i = 0; i < 100 && on.events.length < before + 2; i++) await new Promise((r) => setTimeout(r, 10));
      const [ea, eb] = on.events.slice(before);
      expect(ea).toMatchObject({ file: 'images/x86_64.img', outcome: 'ok' });
      expect(eb).toMatchObject({ file: ea!.file, outcome: ea!.outcome, bytes: ea!.bytes });
    }
    // a refusal is never the fast path's: same 403 text as always
    const n0 = answered();
    const bad = await curl(dir, [`${on.base}/ltsp/images/x86_64.img?token=${encodeURIComponent(token)}&token=x`]);
    expect(bad.status).toBe(403);
    expect(answered()).toBe(n0);
  });

  it('the decorate hook gives a URL that works for that client only', async () => {
    const u = on.server.tokens.decorate(`${on.base}/ltsp/images/x86_64.img`, 'x86_64', '127.0.0.2');
    expect(u).toMatch(/\?token=\d+\.[A-Za-z0-9_-]{43}$/);
    expect((await curl(dir, [...from('127.0.0.2'), '-r', '0-9', u])).status).toBe(206);
    expect((await curl(dir, [...from('127.0.0.1'), '-r', '0-9', u])).status).toBe(403);
  });
  const now = Date.now();
  const cases: [string, () => string | undefined, string?][] = [
    ['missing token', () => undefined],
    ['empty token', () => ''],
    ['malformed token', () => 'hello'],
    ['expired token', () => createImageTokens({ secret: SECRET, ttlSeconds: 60 }).sign('x86_64', '127.0.0.1', now - 120_000)],
    [
      'forged signature',
      () => {
        const t = on.server.tokens.sign('x86_64', '127.0.0.1');
        const last = t.at(-2) === 'A' ? 'B' : 'A';
        return t.slice(0, -2) + last + t.at(-1);
      },
    ],
    [
      'expiry pushed forward, signature kept',
      () => {
        const [exp, mac] = on.server.tokens.sign('x86_64', '127.0.0.1').split('.');
        return `${Number(exp) + 100000}.${mac}`;
      },
    ],
    ['token for another image', () => on.server.tokens.sign('x86_32', '127.0.0.1')],
    ['token for another client', () => on.server.tokens.sign('x86_64', '127.0.0.2')],
    ['token from another secret', () => createImageTokens({ secret: 'other', ttlSeconds: 60 }).sign('x86_64', '127.0.0.1')],
    ['random per-process secret (no tokenSecret)', () => createImageTokens({ ttlSeconds: 60 }).sign('x86_64', '127.0.0.1')],
  ];
  it.each(cases)('%s → 403', async (_name, token) => {
    const before = on.events.length;
    const r = await curl(dir, [...from('127.0.0.1'), imgUrl(on, 'x86_64', token())]);
    expect(r.status).toBe(403);
    expect(r.body.length).toBeLessThan(100);
    const e = on.events.slice(before).find((x) => x.file === 'images/x86_64.img');
    expect(e?.outcome).toBe('refused');
    expect(String(e?.detail?.reason)).toMatch(/^image token (missing|malformed|expired|bad signature)$/);
  });
  it('a client outside imagesAllow → 403 even with its own valid token', async () => {
    const token = on.server.tokens.sign('x86_64', '127.0.0.3');
    const r = await curl(dir, [...from('127.0.0.3'), imgUrl(on, 'x86_64', token)]);
    expect(r.status).toBe(403);
    expect(r.body.toString()).toContain('not in http.imagesAllow');
  });
  it('bad image names: traversal 400, not an image 404, missing image 404', async () => {
    const token = on.server.tokens.sign('x86_64', '127.0.0.1');
    expect((await curl(dir, ['--path-as-is', `${on.base}/ltsp/images/..%2f..%2fetc/passwd?token=${token}`])).status).toBe(400);
    expect((await curl(dir, [`${on.base}/ltsp/images/x86_64.txt?token=${token}`])).status).toBe(404);
    expect((await curl(dir, [`${on.base}/ltsp/images/sub/x86_64.img?token=${token}`])).status).toBe(404);
    const missing = on.server.tokens.sign('gone', '127.0.0.1');
    expect((await curl(dir, [imgUrl(on, 'gone', missing)])).status).toBe(404);
  });
});

describe('image tokens (unit)', () => {
  const tokens = createImageTokens({ secret: 's', ttlSeconds: 10 });
  it('valid until the expiry second, expired after', () => {
    const t0 = 1_700_000_000_000;
    const tok = tokens.sign('img', '10.0.0.1', t0);
    expect(tokens.verify('img', '10.0.0.1', tok, t0)).toEqual({ ok: true });
    expect(tokens.verify('img', '10.0.0.1', tok, t0 + 10_000)).toEqual({ ok: true });
    expect(tokens.verify('img', '10.0.0.1', tok, t0 + 11_000)).toEqual({ ok: false, reason: 'expired' });
  });
  it('binds image and client', () => {
    const tok = tokens.sign('img', '10.0.0.1');
    expect(tokens.verify('img2', '10.0.0.1', tok).ok).toBe(false);
    expect(tokens.verify('img', '10.0.0.11', tok).ok).toBe(false);
  });
  it('decorate appends with ? or &', () => {
    expect(tokens.decorate('http://s/a.img', 'a', '1.2.3.4')).toMatch(/^http:\/\/s\/a\.img\?token=/);
    expect(tokens.decorate('http://s/a.img?x=1', 'a', '1.2.3.4')).toMatch(/^http:\/\/s\/a\.img\?x=1&token=/);
  });
});

describe('subnet allow-list (unit)', () => {
  it('CIDR, bare addresses, IPv4-mapped sources, bad entries reported', () => {
    const { subnets, bad } = parseSubnets(['192.168.67.0/24', '10.1.2.3', '0.0.0.0/0x', '300.1.1.1', '10.0.0.0/33']);
    expect(bad).toEqual(['0.0.0.0/0x', '300.1.1.1', '10.0.0.0/33']);
    expect(inSubnets('192.168.67.200', subnets)).toBe(true);
    expect(inSubnets('::ffff:192.168.67.1', subnets)).toBe(true);
    expect(inSubnets('192.168.68.1', subnets)).toBe(false);
    expect(inSubnets('10.1.2.3', subnets)).toBe(true);
    expect(inSubnets('10.1.2.4', subnets)).toBe(false);
    expect(inSubnets('fe80::1', subnets)).toBe(false);
    expect(inSubnets('1.2.3.4', parseSubnets(['0.0.0.0/0']).subnets)).toBe(true);
  });
});
