/**
 * Real image builds: a synthetic root squashed by the real mksquashfs through overlay and
 * tmpfs mounts; the result read back with unsquashfs. The source tree must be identical
 * (contents, mode, owner, mtime) after every build, and no mount or loop device may stay.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, revertImage, type ImageBuildOptions } from '../src/image/build.js';
import { installIpxeBinaries } from '../src/image/ipxe-binaries.js';
import { extractKernel } from '../src/image/kernel.js';
import { fingerprint, have, isRoot, makeRoot, ourMounts, squashCat, squashList } from './image-fixtures.js';

const ready = isRoot && have('mksquashfs') && have('unsquashfs') && existsSync('/bin/busybox');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe.skipIf(!ready)('ltsp-ts image: real builds', () => {
  let dir: string;
  let base: string;
  let tftp: string;
  const opts = (): ImageBuildOptions => ({ baseDir: base, tftpDir: tftp, backup: true, cleanup: true, mksquashfsParams: '-comp gzip', progress: 'none', ionice: '' });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'im-build-'));
    base = join(dir, 'base');
    tftp = join(dir, 'tftp');
    mkdirSync(base);
    makeRoot(join(base, 'chr'));
  });
  afterAll(() => {
    expect(ourMounts(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('squashes a chroot with cleanup; source untouched; everything not cleaned is intact', async () => {
    const src = join(base, 'chr');
    const before = fingerprint(src);
    const r = await buildImage('chr', opts());
    expect(fingerprint(src)).toEqual(before);
    expect(ourMounts(dir)).toEqual([]);
    const img = join(base, 'images', 'chr.img');
    expect(r.image).toBe(img);
    expect(statSync(join(base, 'images')).mode & 0o777).toBe(0o700);
    expect(existsSync(`${img}.tmp`)).toBe(false);
    expect(existsSync(join(base, 'images', '.chr.lock'))).toBe(false);

    const list = squashList(img);
    // Excluded by the default image.excludes
    for (const gone of ['home/alice/notes.txt', 'root/.bash_history', 'tmp/junk', 'etc/ssh/ssh_host_ed25519_key', 'etc/ssh/ssh_host_ed25519_key.pub', 'var/log/syslog.1', 'var/log/apt/history.log', 'etc/.hidden-secret']) {
      expect(list, gone).not.toContain(gone);
    }
    // Removed by cleanup
    for (const gone of ['etc/passwd-', 'etc/shadow-']) expect(list, gone).not.toContain(gone);
    for (const kept of ['bin/busybox', 'bin/sh', 'etc/.java', 'etc/ssh/sshd_config', 'usr/share/doc/readme', 'home', 'proc', 'tmp', 'var/log/syslog', 'boot/vmlinuz-6.1.0-10-amd64', 'vmlinuz']) {
      expect(list, kept).toContain(kept);
    }
    // Accounts: normal users and their now-empty groups gone, system ones byte for byte.
    expect(squashCat(img, 'etc/passwd')).toBe('root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
    expect(squashCat(img, 'etc/group')).toBe('root:x:0:\ndaemon:x:1:\nsudo:x:27:\naudio:x:29:\nnogroup:x:65534:\n');
    expect(squashCat(img, 'etc/shadow')).toBe('root:$6$roothash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n');
    expect(squashCat(img, 'etc/gshadow')).toBe('root:*::\ndaemon:*::\nsudo:*::\naudio:*::\nnogroup:*::\n');
    expect(r.cleanup?.removedUsers.sort()).toEqual(['alice', 'bob']);
    // Emptied files
    expect(squashCat(img, 'var/log/syslog')).toBe('');
    expect(squashCat(img, 'etc/fstab')).toBe('');
    expect(squashCat(img, 'var/cache/debconf/passwords.dat')).toBe('');
    expect(squashCat(img, 'etc/cups/printers.conf')).toBe('# Printer configuration file\n');

    // Everything else: extract and compare with the source, file by file.
    const out = join(dir, 'extract');
    execFileSync('unsquashfs', ['-q', '-n', '-d', out, img]);
    const changed = new Set(['etc/passwd', 'etc/group', 'etc/shadow', 'etc/gshadow', 'var/log/syslog', 'etc/fstab', 'var/cache/debconf/passwords.dat', 'etc/cups/printers.conf']);
    const got = fingerprint(out);
    let compared = 0;
    for (const [p] of got) {
      if (p === '.' || changed.has(p)) continue;
      const a = before.get(p)!.split(' ');
      const b = got.get(p)!.split(' ');
      expect(b[0], p).toBe(a[0]); // mode
      expect(b[4], p).toBe(a[4]); // size
      expect(b.slice(5).join(' '), p).toBe(a.slice(5).join(' ')); // content hash / link target
      compared++;
    }
    expect(compared).toBeGreaterThan(30);
    rmSync(out, { recursive: true });

    // Kernel step (newest version first) into TFTP_DIR/ltsp/chr, mode 644.
    expect(r.kernel?.vmlinuz).toBe('boot/vmlinuz-6.1.0-10-amd64');
    expect(readFileSync(join(tftp, 'ltsp/chr/vmlinuz'), 'utf8')).toBe('kernel 6.1.0-10-amd64\n');
    expect(readFileSync(join(tftp, 'ltsp/chr/initrd.img'), 'utf8')).toBe('initrd 6.1.0-10-amd64\n');
    expect(statSync(join(tftp, 'ltsp/chr/vmlinuz')).mode & 0o777).toBe(0o644);
  });

  it('-c 0 keeps the users; backup keeps the previous image; revert swaps and re-extracts the kernel', async () => {
    const img = join(base, 'images', 'chr.img');
    const first = sha(img);
    // A newer kernel appears in the chroot.
    writeFileSync(join(base, 'chr/boot/vmlinuz-6.1.0-11-amd64'), 'kernel 11\n');
    writeFileSync(join(base, 'chr/boot/initrd.img-6.1.0-11-amd64'), 'initrd 11\n');
    const r = await buildImage('chr', { ...opts(), cleanup: false });
    expect(r.backup).toBe(`${img}.old`);
    expect(sha(`${img}.old`)).toBe(first);
    expect(squashCat(img, 'etc/passwd')).toContain('alice:x:1000');
    // The `vmlinuz` symlink row comes before `vmlinuz-*`: LTSP prefers the Debian symlinks.
    expect(readFileSync(join(tftp, 'ltsp/chr/vmlinuz'), 'utf8')).toBe('kernel 6.1.0-10-amd64\n');
    const second = sha(img);

    const rv = await revertImage('chr', { baseDir: base, tftpDir: tftp });
    expect(sha(img)).toBe(first);
    expect(sha(`${img}.old`)).toBe(second);
    expect(rv.kernel?.vmlinuz).toBe('boot/vmlinuz-6.1.0-10-amd64');
    await revertImage('chr', { baseDir: base, tftpDir: tftp });
    expect(sha(img)).toBe(second);

    // -b 0: no backup is made (the old .old stays as it was).
    const old = sha(`${img}.old`);
    await buildImage('chr', { ...opts(), backup: false, noKernel: true });
    expect(sha(`${img}.old`)).toBe(old);
  });

  it('kernel: -k override, chroot and squashfs sources', async () => {
    const k = await extractKernel('chr', { baseDir: base, tftpDir: tftp, kernelInitrd: 'vmlinuz-6.1.0-9-* s|vmlinuz|initrd.img|' });
    expect(k.vmlinuz).toBe('boot/vmlinuz-6.1.0-9-amd64');
    expect(readFileSync(join(tftp, 'ltsp/chr/vmlinuz'), 'utf8')).toBe('old kernel\n');
    // Remove the Debian symlinks: the `vmlinuz-*` row sorts newest first (-11 > -10 > -9).
    rmSync(join(base, 'chr/vmlinuz'));
    rmSync(join(base, 'chr/initrd.img'));
    const k2 = await extractKernel(join(base, 'chr'), { baseDir: base, tftpDir: tftp });
    expect(k2.vmlinuz).toBe('boot/vmlinuz-6.1.0-11-amd64');
    const k3 = await extractKernel(join(base, 'images/chr.img'), { baseDir: base, tftpDir: tftp });
    expect(k3.name).toBe('chr');
    expect(readFileSync(join(tftp, 'ltsp/chr/initrd.img'), 'utf8')).toMatch(/^initrd /);
  });

  it('the /,,/boot,subdir=boot syntax merges a separate /boot into the image', async () => {
    const sys = join(dir, 'sysroot');
    makeRoot(sys);
    const boot = join(dir, 'bootpart');
    mkdirSync(boot);
    writeFileSync(join(boot, 'vmlinuz-7.0.0-1-amd64'), 'separate boot kernel\n');
    writeFileSync(join(boot, 'initrd.img-7.0.0-1-amd64'), 'separate boot initrd\n');
    // The overlay of the root shows boot/ as the root's own; the second part covers it.
    const before = fingerprint(sys);
    const beforeBoot = fingerprint(boot);
    const r = await buildImage(`${sys},,${boot},subdir=boot`, { ...opts(), kernelInitrd: 'boot/vmlinuz-7* s|vmlinuz|initrd.img|' });
    expect(r.name).toBe('sysroot');
    const list = squashList(r.image);
    expect(list).toContain('boot/vmlinuz-7.0.0-1-amd64');
    expect(list).not.toContain('boot/vmlinuz-6.1.0-10-amd64'); // hidden by the mounted part
    expect(list).toContain('bin/busybox');
    expect(r.kernel?.vmlinuz).toBe('boot/vmlinuz-7.0.0-1-amd64');
    expect(fingerprint(sys)).toEqual(before);
    expect(fingerprint(boot)).toEqual(beforeBoot);
    expect(ourMounts(dir)).toEqual([]);
  });

  it('clear errors: unknown image, spaces, not a chroot, qcow2, concurrent build', async () => {
    await expect(buildImage('nosuch', opts())).rejects.toThrow(/unknown image 'nosuch'/);
    await expect(buildImage('my image', opts())).rejects.toThrow(/no spaces/);
    mkdirSync(join(base, 'notchroot/etc'), { recursive: true });
    await expect(buildImage('notchroot', opts())).rejects.toThrow(/not a chroot/);
    const q = join(base, 'win.img');
    writeFileSync(q, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.alloc(1024)]));
    await expect(buildImage('win', opts())).rejects.toThrow(/qcow2.*qemu-img convert/);
    rmSync(q);
    // A live lock (another builder's pid) refuses; a dead one is taken over.
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = sleeper.pid!;
    writeFileSync(join(base, 'images/.chr.lock'), `${pid}\n`);
    try {
      await expect(buildImage('chr', opts())).rejects.toThrow(new RegExp(`being built by another ltsp-ts \\(pid ${pid}\\)`));
    } finally {
      const exited = new Promise((r) => sleeper.once('exit', r));
      sleeper.kill('SIGKILL');
      await exited; // reaped: its pid is gone, the lock is stale now
    }
    const r = await buildImage('chr', { ...opts(), noKernel: true });
    expect(existsSync(r.image)).toBe(true);
    expect(ourMounts(dir)).toEqual([]);
  });

  it('not root: a clear error from the CLI', () => {
    if (!have('setpriv')) return;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, 'bin/ltsp-ts.js', 'image', '--base-dir', base, 'chr'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/must run as root/);
  });

  it('ipxe: binaries with LTSP --binaries semantics, static ltsp.ipxe from the shared generator', async () => {
    const sysroot = join(dir, 'fake-sys');
    mkdirSync(join(sysroot, 'usr/lib/ipxe'), { recursive: true });
    mkdirSync(join(sysroot, 'boot'));
    writeFileSync(join(sysroot, 'usr/lib/ipxe/undionly.kpxe'), 'undi');
    writeFileSync(join(sysroot, 'usr/lib/ipxe/ipxe.efi'), 'ipxe-efi'); // no snponly.efi: fallback
    writeFileSync(join(sysroot, 'boot/memtest86+ia32.bin'), 'memtest32');
    const t2 = join(dir, 'tftp2');
    const r = await installIpxeBinaries(t2, { sysroot });
    expect(r.map((x) => `${x.target}:${x.action}`)).toEqual(['undionly.kpxe:installed', 'snponly.efi:installed', 'memtest.0:installed', 'memtest.efi:missing']);
    expect(readFileSync(join(t2, 'ltsp/snponly.efi'), 'utf8')).toBe('ipxe-efi');
    expect(statSync(join(t2, 'ltsp/memtest.0')).mode & 0o777).toBe(0o644);
    expect((await installIpxeBinaries(t2, { sysroot })).map((x) => x.action)).toEqual(['kept', 'kept', 'kept', 'missing']);
    expect((await installIpxeBinaries(t2, { sysroot, binaries: true }))[0]!.action).toBe('installed');
    expect((await installIpxeBinaries(t2, { sysroot, binaries: false })).every((x) => x.action === 'skipped')).toBe(true);
    await expect(installIpxeBinaries(join(dir, 'tftp3'), { sysroot: join(dir, 'empty-sys') })).rejects.toThrow(/undionly.kpxe.*apt-get install ipxe/);

    const cli = spawnSync(process.execPath, ['bin/ltsp-ts.js', 'ipxe', '--base-dir', base, '--tftp-dir', t2, '--sysroot', sysroot], { encoding: 'utf8' });
    expect(cli.stderr).not.toMatch(/error/i);
    expect(cli.status).toBe(0);
    const script = readFileSync(join(t2, 'ltsp/ltsp.ipxe'), 'utf8');
    expect(script).toMatch(/^#!ipxe/);
    expect(script).toContain('chr');
    expect(script).toContain(`nfsroot=\${srv}:${base}`);
  });

  it('info reports what is present and what is missing', () => {
    const r = spawnSync(process.execPath, ['bin/ltsp-ts.js', 'info', '--json', '--base-dir', base, '--tftp-dir', tftp, '--exports-file', join(dir, 'none.exports')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout) as { images: { name: string; vmlinuz: { present: boolean } }[]; missing: string[]; chroots: string[] };
    expect(info.images.map((i) => i.name)).toContain('chr');
    expect(info.images.find((i) => i.name === 'chr')?.vmlinuz.present).toBe(true);
    expect(info.chroots).toContain('chr');
    expect(info.missing.join('\n')).toMatch(/ltsp\.img: missing; it comes from LTSP's own `ltsp initrd`/);
    expect(info.missing.join('\n')).toMatch(/undionly\.kpxe: missing; run: ltsp-ts ipxe/);
    expect(info.missing.join('\n')).toMatch(/none\.exports: missing; run: ltsp-ts nfs/);
  });
});
