/**
 * GET /ltsp/ltsp.ipxe: generated per request from the config and the images present
 * (an image exported or removed shows up in the very next script), `?mac=` sections,
 * no caching; and every file the generated script names resolves on this server (the
 * kernel, initrds and memtest of every menu entry are fetched with curl, byte-checked).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { curl, rawRequest, startTestHttp, tempDir, type TestHttp } from './http-helpers.js';
import { loadConfigText } from '../src/config/load.js';
import type { ScriptRequest } from '../src/http/server.js';
import { sharedScan } from '../src/http/script-provider.js';

const { dir, cleanup } = tempDir('ltsp-http-script-');
const tftpDir = join(dir, 'tftp');
const baseDir = join(dir, 'base');
const LTSP_CONF = [
  '[server]',
  'IPXE_X86_64_IMG="Debian 12 x86_64"',
  '',
  '[52:54:00:aa:bb:01]',
  'DEFAULT_IMAGE=x86_32',
  'KERNEL_PARAMETERS="nomodeset"',
  '',
  '[52:54:00:aa:bb:02]',
  'MENU_TIMEOUT=-1',
].join('\n');
const files: Record<string, string> = {};
let t: TestHttp;

function put(rel: string, content: string) {
  const p = join(tftpDir, 'ltsp', rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
  files[rel] = content;
}

beforeAll(async () => {
  mkdirSync(join(baseDir, 'images'), { recursive: true });
  for (const img of ['x86_64', 'x86_32']) {
    writeFileSync(join(baseDir, 'images', `${img}.img`), 'squashfs');
    put(`${img}/vmlinuz`, `kernel of ${img}`);
    put(`${img}/initrd.img`, `initrd of ${img}`);
  }
  mkdirSync(join(baseDir, 'bookworm', 'proc'), { recursive: true }); // a chroot
  put('bookworm/vmlinuz', 'kernel of the chroot');
  put('bookworm/initrd.img', 'initrd of the chroot');
  put('ltsp.img', 'ltsp cpio');
  put('memtest.0', 'memtest bios');
  put('memtest.efi', 'memtest efi');
  const loaded = loadConfigText(LTSP_CONF, { overrides: { baseDir, tftpDir } });
  expect(loaded.errors).toEqual([]);
  t = await startTestHttp({ tftpDir, baseDir }, {}, { loaded });
});
afterAll(async () => {
  await t?.server.close();
  cleanup();
});

const script = async (q = '') => {
  const r = await curl(dir, [`${t.base}/ltsp/ltsp.ipxe${q}`]);
  expect(r.status).toBe(200);
  return { text: r.body.toString(), headers: r.headers };
};
const items = (text: string) => [...text.matchAll(/^item --key \S+ (\S+)/gm)].map((m) => m[1]);

describe('the generated script', () => {
  it('text/plain, not cacheable, starts with #!ipxe, lists images and chroots', async () => {
    const { text, headers } = await script();
    expect(headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(headers['cache-control']).toBe('no-store');
    expect(headers.etag).toBeUndefined();
    expect(text.startsWith('#!ipxe\n')).toBe(true);
    expect(items(text).slice(0, 3)).toEqual(['x86_32', 'x86_64', 'r_bookworm']);
    expect(text).toContain('Debian 12 x86_64');
  });
  it('an image exported or removed shows up in the next request', async () => {
    writeFileSync(join(baseDir, 'images', 'new.img'), 'squashfs');
    expect(items(await script().then((s) => s.text))).toContain('new');
    rmSync(join(baseDir, 'images', 'new.img'));
    expect(items(await script().then((s) => s.text))).not.toContain('new');
  });
  it('?mac= renders only that client section (any MAC spelling)', async () => {
    const one = (await script('?mac=52-54-00-AA-BB-01')).text;
    expect(one).toMatch(/^:52:54:00:aa:bb:01$/m);
    expect(one).toMatch(/^set img x86_32$/m);
    expect(one).toMatch(/^set cmdline_client nomodeset$/m);
    expect(one).not.toContain(':52:54:00:aa:bb:02');
    const all = (await script()).text;
    expect(all).toContain(':52:54:00:aa:bb:01');
    expect(all).toContain(':52:54:00:aa:bb:02');
  });
  it('a bad ?mac= is 400', async () => {
    expect((await curl(dir, [`${t.base}/ltsp/ltsp.ipxe?mac=zz:zz`])).status).toBe(400);
    expect((await curl(dir, [`${t.base}/ltsp/ltsp.ipxe?mac=1&mac=2`])).status).toBe(400);
  });
  it('HEAD works (iPXE and OVMF may probe)', async () => {
    const r = await rawRequest(t.server.port, 'HEAD /ltsp/ltsp.ipxe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 500);
    expect(r.status).toBe(200);
    expect(r.raw.length).toBe(r.raw.indexOf('\r\n\r\n') + 4);
  });
  it('a boot event per script request', async () => {
    const before = t.events.length;
    await script('?mac=52:54:00:aa:bb:02');
    expect(t.events.slice(before)).toContainEqual(expect.objectContaining({ service: 'http', file: 'ltsp.ipxe', outcome: 'ok' }));
  });
});

describe("every file the script names is served", () => {
  it('kernel, ltsp.img, initrd of every menu entry, and memtest, resolved against the script URL', async () => {
    const scriptUrl = `${t.base}/ltsp/ltsp.ipxe`;
    const { text } = await script();
    const ids = items(text).filter((i) => !['memtest', 'config', 'shell', 'disk', 'exit'].includes(i!));
    expect(ids.length).toBe(3);
    const paths = new Set<string>();
    for (const id of ids) {
      const img = id!.startsWith('r_') ? id!.slice(2) : id!;
      for (const m of text.matchAll(/^(?:kernel|initrd) (\S+)/gm)) {
        if (m[1]!.startsWith('${memtest}')) continue;
        paths.add(m[1]!.replaceAll('${img}', img));
      }
    }
    for (const m of text.matchAll(/set memtest (\S+)/g)) paths.add(m[1]!);
    expect(paths.size).toBeGreaterThanOrEqual(8);
    for (const p of paths) {
      expect(p, `unresolved variable in ${p}`).not.toContain('${');
      const u = new URL(p, scriptUrl);
      expect(u.origin).toBe(t.base);
      const r = await curl(dir, [u.href]);
      expect(r.status, u.pathname).toBe(200);
      expect(r.body.toString()).toBe(files[u.pathname.slice('/ltsp/'.length)]);
    }
  });
});

describe('an injected script provider', () => {
  let calls: ScriptRequest[];
  let t2: TestHttp;
  beforeAll(async () => {
    calls = [];
    t2 = await startTestHttp({ tftpDir, baseDir }, {}, {
      script: (req) => {
        calls.push(req);
        if (req.mac === '00:00:00:00:00:00') throw new Error('generator failed');
        return `#!ipxe\necho ${calls.length}\n`;
      },
    });
  });
  afterAll(async () => {
    await t2.server.close();
  });
  it('is called per request with client IP, MAC, host and the base URL as reached', async () => {
    const a = await curl(dir, [`${t2.base}/ltsp/ltsp.ipxe?mac=AABBCCDDEEFF`]);
    const b = await curl(dir, [`${t2.base}/ltsp/ltsp.ipxe`]);
    expect(a.body.toString()).toBe('#!ipxe\necho 1\n');
    expect(b.body.toString()).toBe('#!ipxe\necho 2\n');
    expect(calls[0]).toEqual({ clientIp: '127.0.0.1', mac: 'aa:bb:cc:dd:ee:ff', host: '127.0.0.1', baseUrl: t2.base });
    // OVMF-style Host without the port: the base URL still carries the real port
    await rawRequest(t2.server.port, 'GET /ltsp/ltsp.ipxe HTTP/1.1\r\nHost: boot.example\r\n\r\n', 1000);
    expect(calls.at(-1)).toMatchObject({ host: 'boot.example', baseUrl: `http://boot.example:${t2.server.port}` });
  });
  it('a failing generator is a 500, and the server keeps serving', async () => {
    expect((await curl(dir, [`${t2.base}/ltsp/ltsp.ipxe?mac=00:00:00:00:00:00`])).status).toBe(500);
    expect((await curl(dir, [`${t2.base}/ltsp/ltsp.ipxe`])).status).toBe(200);
  });
});

describe('without a generator', () => {
  it('serves TFTP_DIR/ltsp/ltsp.ipxe as a file (what `ltsp ipxe` writes)', async () => {
    const t3 = await startTestHttp({ tftpDir, baseDir });
    try {
      expect((await curl(dir, [`${t3.base}/ltsp/ltsp.ipxe`])).status).toBe(404);
      put('ltsp.ipxe', '#!ipxe\nstatic\n');
      const r = await curl(dir, [`${t3.base}/ltsp/ltsp.ipxe`]);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('#!ipxe\nstatic\n');
    } finally {
      await t3.server.close();
    }
  });
});

describe('sharedScan (one BASE_DIR scan shared by a burst of script requests)', () => {
  it('reuses a young scan while BASE_DIR and images/ are unchanged; any image change or age rescans', async () => {
    let clock = 0;
    const scan = sharedScan(1000, () => clock);
    const a = scan(baseDir);
    expect(scan(baseDir)).toBe(a);
    clock = 999;
    expect(scan(baseDir)).toBe(a);
    // a new image changes images/'s mtime: scanned again at once, and it is in the result
    writeFileSync(join(baseDir, 'images', 'burst.img'), 'squashfs');
    const b = scan(baseDir);
    expect(b).not.toBe(a);
    expect((await b).images).toContain('burst');
    rmSync(join(baseDir, 'images', 'burst.img'));
    const c = scan(baseDir);
    expect(c).not.toBe(b);
    expect((await c).images).not.toContain('burst');
    clock += 1000;
    expect(scan(baseDir)).not.toBe(c);
  });
});
