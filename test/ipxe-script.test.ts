/**
 * The generated iPXE menu against LTSP's `ltsp ipxe` output semantics (reference §3.3: images
 * x86_32/x86_64, chroot bionic, IPXE_X86_64_IMG, two MAC sections), structural checks (labels,
 * guards on every fallible command), and the live BASE_DIR scan.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigText } from '../src/config/load.js';
import { scanBootImages } from '../src/boot/images.js';
import { generateIpxeMenu } from '../src/boot/ipxe-menu.js';
import { renderIpxeScript, type IpxeUrlContext } from '../src/boot/ipxe-script.js';

let base: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'cf-ipxe-'));
  mkdirSync(join(base, 'images'));
  writeFileSync(join(base, 'images', 'x86_64.img'), 'squashfs');
  writeFileSync(join(base, 'images', 'x86_32.img'), 'squashfs');
  mkdirSync(join(base, 'bionic', 'proc'), { recursive: true });
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

const LTSP_CONF = [
  '[server]',
  'IPXE_X86_64_IMG="Ubuntu 24.04 MATE"',
  '',
  '[AA:BB:CC:DD:EE:01]',
  'HOSTNAME=pc01',
  'DEFAULT_IMAGE=x86_32',
  'KERNEL_PARAMETERS="nomodeset noapic"',
  '',
  '[aa:bb:cc:dd:ee:02]',
  'MENU_TIMEOUT=-1',
  'INCLUDE=lab',
  '',
  '[aa:bb:cc:dd:ee:03]',
  'HOSTNAME=only-a-hostname',
  '',
  '[aa:bb:cc:*]',
  'DEFAULT_IMAGE=x86_64',
  '',
  '[lab]',
  'DEFAULT_IMAGE=bionic',
].join('\n');

function loaded(text = LTSP_CONF) {
  const l = loadConfigText(text, { overrides: { baseDir: base } });
  expect(l.errors).toEqual([]);
  return l;
}

const lines = (script: string) => script.split('\n');

/** The lines following `:label` up to the next blank line. */
function block(script: string, label: string): string[] {
  const ls = lines(script);
  const i = ls.indexOf(`:${label}`);
  expect(i, `label :${label}`).toBeGreaterThanOrEqual(0);
  const end = ls.indexOf('', i);
  return ls.slice(i, end < 0 ? undefined : end);
}

const FALLIBLE = new Set(['kernel', 'initrd', 'imgfetch', 'chain', 'boot', 'sanboot', 'choose', 'menu', 'iseq', 'isset', 'cpuid', 'config', 'shell']);

/**
 * Structural check of an iPXE script: every static `goto X` has a `:X`; a line that runs a
 * command able to fail ends in a harmless command (set/echo/static goto) or a bare `||`, so a
 * failure never aborts the script (LTSP #21).
 */
function checkStructure(script: string): void {
  const ls = lines(script);
  expect(ls[0]).toBe('#!ipxe');
  const labels = new Set(ls.filter((l) => l.startsWith(':')).map((l) => l.slice(1)));
  for (const [n, raw] of ls.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(':')) continue;
    const segments = line.split(/\s*(?:\|\||&&)\s*/);
    for (const seg of segments) {
      const m = /^goto (\S+)$/.exec(seg);
      if (m && !m[1]!.includes('${')) expect(labels.has(m[1]!), `line ${n + 1}: goto ${m[1]} has no label`).toBe(true);
    }
    const cmds = segments.map((s) => s.split(/\s+/)[0]!);
    const fallible = cmds.some((c, i) => FALLIBLE.has(c) || (c === 'goto' && segments[i]!.includes('${')));
    if (!fallible) continue;
    const last = segments[segments.length - 1]!;
    const safeLast = last === '' || /^(set|echo) /.test(last) || (/^goto \S+$/.test(last) && !last.includes('${'));
    expect(safeLast, `line ${n + 1} is not guarded: ${line}`).toBe(true);
  }
}

describe('renderIpxeScript: LTSP semantics (reference §3.3)', () => {
  it('items, titles and keys: images then r_<chroot>, printf %-20s padding', async () => {
    const { script } = await generateIpxeMenu(loaded());
    const items = lines(script).filter((l) => l.startsWith('item --key') && !/ (memtest|config|shell|disk|exit) /.test(l));
    expect(items).toEqual([
      'item --key 1 x86_32               x86_32.img',
      'item --key 2 x86_64               Ubuntu 24.04 MATE',
      'item --key 3 r_bionic             bionic',
    ]);
    for (const fixed of ['item --key m memtest', 'item --key c config', 'item --key s shell', 'item --key d disk', 'item --key x exit']) {
      expect(script).toContain(fixed);
    }
    expect(script).toContain('choose --timeout ${menu-timeout} --default ${img} img || goto cancel');
  });

  it('header: cpuid default, root-path override, srv, cmdline_ltsp, per-MAC goto', async () => {
    const { script } = await generateIpxeMenu(loaded());
    const ls = lines(script);
    const order = [
      'cpuid --ext 29 && set img x86_64 || set img x86_32',
      'isset ${root-path} && set img ${root-path} ||',
      'isset ${proxydhcp/dhcp-server} && set srv ${proxydhcp/dhcp-server} || set srv ${next-server}',
      'set cmdline_ltsp BOOTIF=01-${mac:hexhyp}',
      'goto ${mac} || goto start',
      ':start',
    ];
    const idx = order.map((l) => ls.indexOf(l));
    expect(idx.every((i) => i >= 0)).toBe(true);
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
    expect(script).toContain('isset ${menu-timeout} || set menu-timeout 5000');
  });

  it('per-MAC sections: literal MACs only, lower-cased, HOSTNAME-only skipped, INCLUDE expanded', async () => {
    const { script } = await generateIpxeMenu(loaded());
    expect(block(script, 'aa:bb:cc:dd:ee:01')).toEqual([
      ':aa:bb:cc:dd:ee:01',
      'set hostname pc01',
      'set img x86_32',
      'set cmdline_client nomodeset noapic',
      'goto start',
    ]);
    // DEFAULT_IMAGE=bionic (a chroot, from the INCLUDE) becomes the menu id r_bionic (LTSP quirk fixed)
    expect(block(script, 'aa:bb:cc:dd:ee:02')).toEqual([':aa:bb:cc:dd:ee:02', 'set img r_bionic', 'set menu-timeout -1', 'goto start']);
    expect(script).not.toContain(':aa:bb:cc:dd:ee:03');
    expect(script).not.toContain('only-a-hostname');
    expect(script).not.toContain(':aa:bb:cc:*');
    expect(script).not.toMatch(/^:AA:/m);
  });

  it('image labels fall through to :images in LTSP order; chroots jump to :roots', async () => {
    const { script } = await generateIpxeMenu(loaded());
    const ls = lines(script);
    const i = ls.indexOf(':x86_64');
    expect(ls.slice(i, i + 5)).toEqual([
      ':x86_64',
      ':x86_32',
      ':images',
      `set cmdline_method root=/dev/nfs nfsroot=\${srv}:${base} ltsp.image=images/\${img}.img loop.max_part=9`,
      'goto ltsp',
    ]);
    const r = ls.indexOf(':r_bionic');
    expect(ls.slice(r, r + 4)).toEqual([':r_bionic', 'set img bionic && goto roots', ':roots', `set cmdline_method root=/dev/nfs nfsroot=\${srv}:${base}/\${img}`]);
  });

  it(':ltsp loads the kernel, then ltsp.img BEFORE the distro initrd, every step guarded', async () => {
    const { script } = await generateIpxeMenu(loaded());
    expect(block(script, 'ltsp').filter((l) => !l.startsWith('#'))).toEqual([
      ':ltsp',
      'set cmdline ${cmdline_method} ${cmdline_ltsp} ${cmdline_client}',
      'kernel /ltsp/${img}/vmlinuz initrd=ltsp.img initrd=initrd.img ${cmdline} || goto failed',
      'initrd /ltsp/ltsp.img || goto failed',
      'initrd /ltsp/${img}/initrd.img || goto failed',
      'boot || goto failed',
    ]);
  });

  it('global KERNEL_PARAMETERS, DEFAULT_IMAGE, MENU_TIMEOUT from [server], in LTSP order', async () => {
    const { script } = await generateIpxeMenu(loaded('[server]\nKERNEL_PARAMETERS="quiet splash"\nDEFAULT_IMAGE=bionic\nMENU_TIMEOUT=0\n'));
    const ls = lines(script);
    const i = ls.indexOf('set cmdline_ltsp BOOTIF=01-${mac:hexhyp}');
    expect(ls.slice(i, i + 3)).toEqual(['set cmdline_ltsp BOOTIF=01-${mac:hexhyp}', 'set cmdline_client quiet splash', 'set img r_bionic']);
    expect(script).toContain('isset ${menu-timeout} || set menu-timeout 0');
    expect(script).toContain('iseq -- ${menu-timeout} -1 && goto ${img} ||');
  });

  it('structure: every static goto has a label, every fallible command is guarded', async () => {
    checkStructure((await generateIpxeMenu(loaded())).script);
    checkStructure(renderIpxeScript({ baseDir: '/srv/ltsp', images: [], chroots: [] }));
    checkStructure(
      renderIpxeScript({
        baseDir: '/srv/ltsp',
        images: ['a', 'b'],
        chroots: ['c'],
        baseUrl: 'http://192.168.67.1:8080',
        decorateUrl: (u) => `${u}?t=abc`,
        clients: [{ mac: 'aa:bb:cc:dd:ee:ff', settings: { DEFAULT_IMAGE: 'c' } }],
      }),
    );
  });

  it('the structure check catches an unguarded command and a missing label', () => {
    expect(() => checkStructure('#!ipxe\nkernel /x')).toThrow(/not guarded/);
    expect(() => checkStructure('#!ipxe\ngoto nowhere')).toThrow(/no label/);
    expect(() => checkStructure('#!ipxe\niseq a b && goto ${img}')).toThrow(/not guarded/);
  });

  it('mac renders only that client section', async () => {
    const { script } = await generateIpxeMenu(loaded(), { mac: 'AA:BB:CC:DD:EE:02' });
    expect(script).toContain(':aa:bb:cc:dd:ee:02');
    expect(script).not.toContain(':aa:bb:cc:dd:ee:01');
    checkStructure(script);
  });

  it('baseUrl makes kernel/initrd/memtest URLs absolute', () => {
    const s = renderIpxeScript({ baseDir: '/srv/ltsp/', images: ['x86_64'], chroots: [], baseUrl: 'http://192.168.67.1:8080/' });
    expect(s).toContain('kernel http://192.168.67.1:8080/ltsp/${img}/vmlinuz initrd=ltsp.img initrd=initrd.img ${cmdline} || goto failed');
    expect(s).toContain('initrd http://192.168.67.1:8080/ltsp/ltsp.img || goto failed');
    expect(s).toContain('initrd http://192.168.67.1:8080/ltsp/${img}/initrd.img || goto failed');
    expect(s).toContain('set memtest http://192.168.67.1:8080/ltsp/memtest.0 || set memtest http://192.168.67.1:8080/ltsp/memtest.efi');
    expect(s).toContain('nfsroot=${srv}:/srv/ltsp ltsp.image');
  });

  it('decorateUrl: per-image labels set the decorated URLs that :ltsp loads', () => {
    const calls: Array<[string, IpxeUrlContext]> = [];
    const s = renderIpxeScript({
      baseDir: '/srv/ltsp',
      images: ['x86_64'],
      chroots: ['focal'],
      baseUrl: 'http://10.0.0.1:8080',
      decorateUrl: (url, ctx) => {
        calls.push([url, ctx]);
        return `${url}?token=${ctx.image}-${ctx.kind}`;
      },
    });
    expect(block(s, 'x86_64')).toEqual([
      ':x86_64',
      'set kernel_url http://10.0.0.1:8080/ltsp/x86_64/vmlinuz?token=x86_64-kernel',
      'set initrd_url http://10.0.0.1:8080/ltsp/x86_64/initrd.img?token=x86_64-initrd',
      'set ltsp_initrd_url http://10.0.0.1:8080/ltsp/ltsp.img?token=x86_64-ltsp-initrd',
      'goto images',
    ]);
    expect(s).toContain(':r_focal\nset img focal\nset kernel_url http://10.0.0.1:8080/ltsp/focal/vmlinuz?token=focal-kernel');
    expect(s).toContain('kernel ${kernel_url} initrd=ltsp.img initrd=initrd.img ${cmdline} || goto failed');
    expect(s.indexOf('initrd ${ltsp_initrd_url}')).toBeLessThan(s.indexOf('initrd ${initrd_url}'));
    expect(calls.map(([, c]) => `${c.image}/${c.method}/${c.kind}`)).toEqual([
      'x86_64/images/kernel', 'x86_64/images/initrd', 'x86_64/images/ltsp-initrd',
      'focal/roots/kernel', 'focal/roots/initrd', 'focal/roots/ltsp-initrd',
    ]);
  });

  it('an image named like a script label is left out with a comment', () => {
    const s = renderIpxeScript({ baseDir: '/srv/ltsp', images: ['start', 'x86_64'], chroots: ['ltsp'] });
    expect(s).toContain("# skipped image 'start': its name clashes with a script label");
    expect(s).toContain("# skipped chroot 'ltsp': its name clashes with a script label");
    expect(s.match(/^:start$/gm)).toHaveLength(1);
    expect(s).not.toContain('r_ltsp');
    checkStructure(s);
  });
});

describe('BASE_DIR scan (src/boot/images.ts)', () => {
  it('images appear and disappear between two calls (no cache)', async () => {
    const l = loaded();
    const first = await generateIpxeMenu(l);
    expect(first.found.images).toEqual(['x86_32', 'x86_64']);
    expect(first.script).not.toContain('debian12');

    writeFileSync(join(base, 'images', 'debian12.img'), 'squashfs');
    mkdirSync(join(base, 'jammy', 'proc'), { recursive: true });
    const second = await generateIpxeMenu(l);
    expect(second.found).toMatchObject({ images: ['debian12', 'x86_32', 'x86_64'], chroots: ['bionic', 'jammy'] });
    expect(second.script).toContain('item --key 1 debian12             debian12.img');
    expect(second.script).toContain('item --key 5 r_jammy              jammy');
    expect(second.script).toContain(':debian12\n:images');
    checkStructure(second.script);

    unlinkSync(join(base, 'images', 'debian12.img'));
    rmSync(join(base, 'jammy'), { recursive: true });
    const third = await generateIpxeMenu(l);
    expect(third.script).toBe(first.script);
  });

  it('lists only what LTSP lists, sorted in C order; odd names are reported, not listed', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cf-scan-'));
    try {
      mkdirSync(join(d, 'images', 'dir.img'), { recursive: true }); // a directory is not an image
      writeFileSync(join(d, 'images', 'Zeta.img'), '');
      writeFileSync(join(d, 'images', 'alpha.img'), '');
      writeFileSync(join(d, 'images', 'alpha.img.old'), ''); // ltsp image backup
      writeFileSync(join(d, 'images', 'notes.txt'), '');
      writeFileSync(join(d, 'images', '.hidden.img'), '');
      writeFileSync(join(d, 'images', 'bad name.img'), '');
      writeFileSync(join(d, 'images', 'a,b.img'), '');
      writeFileSync(join(d, 'vm-disk.raw'), '');
      symlinkSync(join(d, 'vm-disk.raw'), join(d, 'images', 'linked.img')); // symlinks followed
      symlinkSync(join(d, 'missing'), join(d, 'images', 'dangling.img'));
      mkdirSync(join(d, 'focal', 'proc'), { recursive: true });
      mkdirSync(join(d, 'notachroot', 'etc'), { recursive: true });
      writeFileSync(join(d, 'plainfile'), ''); // a file in BASE_DIR is not a chroot
      const found = await scanBootImages(d);
      expect(found.images).toEqual(['Zeta', 'alpha', 'linked']);
      expect(found.chroots).toEqual(['focal']);
      expect(found.skipped.map((s) => s.path).sort()).toEqual([join(d, 'images', 'a,b.img'), join(d, 'images', 'bad name.img')]);
      // a missing BASE_DIR is just empty
      expect(await scanBootImages(join(d, 'nope'))).toEqual({ images: [], chroots: [], skipped: [] });
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
