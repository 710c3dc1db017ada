/**
 * Raw VM disk sources: sparse disk files partitioned with sfdisk (GPT with an EFI system
 * partition, MBR with swap), filled with `mkfs.ext4 -d` at the partition's offset (no
 * mount needed), built through read-only loop devices. The image must come from the
 * right partition, the disk file must be unchanged, no loop device may stay.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, type ImageBuildOptions } from '../src/image/build.js';
import { have, isRoot, makeRoot, ourMounts, squashCat, squashList } from './image-fixtures.js';

const ready = isRoot && ['mksquashfs', 'unsquashfs', 'sfdisk', 'mkfs.ext4', 'mkswap', 'losetup', 'blkid'].every(have) && existsSync('/bin/busybox');
const MiB = 1 << 20;
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

interface Part {
  sizeMiB: number;
  type: string;
  /** ext4 contents, 'swap', or nothing. */
  fill?: string | 'swap';
}

/** A sparse disk: partitions start at 1 MiB, aligned to 1 MiB. */
function makeDisk(file: string, label: 'gpt' | 'dos', parts: Part[]): void {
  const total = 2 + parts.reduce((a, p) => a + p.sizeMiB, 0);
  execFileSync('truncate', ['-s', `${total}M`, file]);
  const script = [`label: ${label}`, ...parts.map((p) => `size=${p.sizeMiB}MiB, type=${p.type}`)].join('\n');
  execFileSync('sfdisk', ['-q', file], { input: `${script}\n` });
  let start = 1;
  for (const p of parts) {
    const offset = start * MiB;
    if (p.fill === 'swap') {
      const sw = `${file}.swap`;
      execFileSync('truncate', ['-s', `${p.sizeMiB}M`, sw]);
      execFileSync('mkswap', ['-q', sw]);
      execFileSync('dd', [`if=${sw}`, `of=${file}`, 'bs=1M', `seek=${start}`, 'conv=notrunc,sparse', 'status=none']);
      rmSync(sw);
    } else if (p.fill) {
      execFileSync('mkfs.ext4', ['-q', '-F', '-E', `offset=${offset}`, '-d', p.fill, file, `${p.sizeMiB * 1024}k`]);
    }
    start += p.sizeMiB;
  }
}

describe.skipIf(!ready)('ltsp-ts image: raw disk sources', () => {
  let dir: string;
  let base: string;
  const opts = (): ImageBuildOptions => ({ baseDir: base, tftpDir: join(dir, 'tftp'), backup: true, cleanup: true, mksquashfsParams: '-comp gzip', progress: 'none', ionice: '' });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'im-disk-'));
    base = join(dir, 'base');
    mkdirSync(base);
    for (const n of ['rootA', 'rootB', 'decoy']) makeRoot(join(dir, n));
    writeFileSync(join(dir, 'rootA/etc/hostname'), 'root-A\n');
    writeFileSync(join(dir, 'rootB/etc/hostname'), 'root-B\n');
    writeFileSync(join(dir, 'decoy/etc/hostname'), 'DECOY (EFI system partition)\n');
  });
  afterAll(() => {
    expect(ourMounts(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('GPT: skips the EFI system partition and swap, builds from the Linux partition; VM symlink to -flat.vmdk', async () => {
    const flat = join(dir, 'gpt-flat.vmdk');
    makeDisk(flat, 'gpt', [
      { sizeMiB: 8, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', fill: join(dir, 'decoy') },
      { sizeMiB: 4, type: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', fill: 'swap' },
      { sizeMiB: 16, type: '0FC63DAF-8483-4772-8E3D-3DB47D69D7E4', fill: join(dir, 'rootA') },
    ]);
    symlinkSync(flat, join(base, 'gpt.img')); // LTSP's usual VM layout
    const before = sha(flat);
    const r = await buildImage('gpt', opts());
    expect(r.name).toBe('gpt');
    expect(squashCat(r.image, 'etc/hostname')).toBe('root-A\n');
    expect(squashCat(r.image, 'etc/passwd')).not.toContain('alice');
    expect(squashList(r.image)).toContain('bin/busybox');
    expect(r.kernel?.vmlinuz).toBe('boot/vmlinuz-6.1.0-10-amd64');
    expect(sha(flat)).toBe(before);
    expect(ourMounts(dir)).toEqual([]);
  });

  it('MBR: first usable partition by default, partition=N when asked', async () => {
    const disk = join(dir, 'mbr.raw');
    makeDisk(disk, 'dos', [
      { sizeMiB: 4, type: '82', fill: 'swap' },
      { sizeMiB: 16, type: '83', fill: join(dir, 'rootA') },
      { sizeMiB: 16, type: '83', fill: join(dir, 'rootB') },
    ]);
    const before = sha(disk);
    const a = await buildImage(disk, { ...opts(), noKernel: true });
    expect(a.name).toBe('mbr.raw'); // only `.img` is stripped from file names
    expect(squashCat(a.image, 'etc/hostname')).toBe('root-A\n');
    const b = await buildImage(`${disk},partition=3`, { ...opts(), noKernel: true });
    expect(squashCat(b.image, 'etc/hostname')).toBe('root-B\n');
    await expect(buildImage(`${disk},partition=7`, opts())).rejects.toThrow(/no partition 7/);
    expect(sha(disk)).toBe(before);
    expect(ourMounts(dir)).toEqual([]);
  });

  it('a single file system image (no partition table) and a disk with nothing mountable', async () => {
    const fs = join(base, 'plain.img');
    execFileSync('truncate', ['-s', '16M', fs]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-d', join(dir, 'rootB'), fs]);
    const r = await buildImage('plain', { ...opts(), noKernel: true });
    expect(squashCat(r.image, 'etc/hostname')).toBe('root-B\n');

    const bad = join(base, 'swaponly.img');
    makeDisk(bad, 'gpt', [
      { sizeMiB: 4, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' },
      { sizeMiB: 4, type: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', fill: 'swap' },
    ]);
    await expect(buildImage('swaponly', opts())).rejects.toThrow(/no mountable partition \(1: EFI system partition; 2: swap\)/);
    expect(existsSync(join(base, 'images/swaponly.img'))).toBe(false);
    expect(ourMounts(dir)).toEqual([]);
  });
});
