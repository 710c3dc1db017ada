/**
 * Loop-mounting file sources (VM raw disks, single file systems, squashfs images) the
 * way LTSP's mount_file does: probe with `blkid -po export`; a partition table without a
 * file system means a disk; skip the EFI system partition and swap; take the first
 * mountable partition or `partition=N`; ext* gets `ro,noload`, the rest `ro`.
 *
 * Difference from LTSP: instead of `losetup -rP` and `/dev/loopNpM` we read the table
 * with `sfdisk -J` and give the chosen partition its own read-only loop device with
 * --offset/--sizelimit. The result is the same block device contents, it needs no
 * partition support in the kernel (CONFIG_EFI_PARTITION/MSDOS_PARTITION, missing on
 * some VM kernels, including the one this was developed on) nor udev to create the
 * partition nodes, and only one loop device per part.
 */
import { open } from 'node:fs/promises';
import { execa } from 'execa';
import { ImageError } from './errors.js';
import type { MountStack } from './mounts.js';
import { requireTool } from './tools.js';

const ESP_GUID = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
/** MBR types that never hold a root: EFI (ef), extended (05, 0f, 85). */
const MBR_SKIP = new Set(['ef', '5', '05', 'f', '0f', '85']);

/** Parse `blkid -po export` output (KEY=value lines). Pure. */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Formats LTSP cannot loop-mount; the user has to convert them to raw first. Pure. */
export function detectVirtualDiskFormat(head: Buffer): string | undefined {
  if (head.length >= 4 && head.subarray(0, 4).toString('latin1') === 'QFI\xfb') return 'qcow2';
  if (head.length >= 68 && head.readUInt32LE(64) === 0xbeda107f) return 'vdi';
  if (head.length >= 4 && head.subarray(0, 4).toString('latin1') === 'KDMV') return 'vmdk (sparse)';
  if (head.length >= 8 && head.subarray(0, 8).toString('latin1') === 'vhdxfile') return 'vhdx';
  return undefined;
}

export interface TablePartition {
  number: number;
  start: number;
  size: number;
  type: string;
}

/** Partitions from `sfdisk -J` output, sizes in bytes. Pure. */
export function parseSfdiskJson(json: string): TablePartition[] {
  const t = (JSON.parse(json) as { partitiontable?: { sectorsize?: number; partitions?: { node: string; start: number; size: number; type: string }[] } }).partitiontable;
  const sector = t?.sectorsize ?? 512;
  return (t?.partitions ?? []).map((p) => ({
    number: Number(/(\d+)$/.exec(p.node)?.[1] ?? 0),
    start: p.start * sector,
    size: p.size * sector,
    type: String(p.type).toLowerCase(),
  }));
}

async function blkid(file: string, range?: { offset: number; size: number }): Promise<Record<string, string>> {
  const args = ['-p', '-o', 'export'];
  if (range) args.push('-O', String(range.offset), '-S', String(range.size));
  const r = await execa('blkid', [...args, file], { reject: false, stdin: 'ignore' });
  // exit 2: nothing recognised, which is an answer, not an error.
  return r.exitCode === 0 ? parseBlkidExport(r.stdout) : {};
}

function mountOptions(fstype: string, options: string): string {
  return options !== '' ? options : fstype.startsWith('ext') ? 'ro,noload' : 'ro';
}

async function rejectVirtualDisk(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(512), 0, 512, 0);
    const fmt = detectVirtualDiskFormat(buffer.subarray(0, bytesRead));
    if (fmt) {
      throw new ImageError(`${file} is a ${fmt} disk image; only raw disks (or fixed-size -flat.vmdk) can be used. Convert it first: qemu-img convert -O raw ${file} ${file.replace(/\.[^./]*$/, '')}-flat.raw`);
    }
  } finally {
    await fh.close();
  }
}

export interface FileMountRequest {
  file: string;
  target: string;
  partition?: number;
  fstype?: string;
  options: string;
}

/** What got mounted, for logs and tests. */
export interface FileMountResult {
  device: string;
  fstype: string;
  partition?: number;
}

/** Loop-mount a disk or file system image read-only on `target`. */
export async function mountFile(req: FileMountRequest, stack: MountStack): Promise<FileMountResult> {
  await requireTool('losetup');
  await requireTool('blkid');
  await rejectVirtualDisk(req.file);
  const whole = await blkid(req.file);
  const isDisk = req.partition !== undefined || (whole.PTTYPE !== undefined && whole.TYPE === undefined);
  if (!isDisk) {
    const fstype = req.fstype || whole.TYPE;
    if (!fstype) throw new ImageError(`${req.file}: no partition table and no file system found (blkid); not a raw disk image`);
    const device = await stack.loop(req.file);
    await stack.mount(['-t', fstype, '-o', mountOptions(fstype, req.options), device], req.target);
    return { device, fstype };
  }
  await requireTool('sfdisk');
  const r = await execa('sfdisk', ['-J', req.file], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new ImageError(`${req.file}: cannot read the partition table: ${r.stderr.trim()}`);
  const parts = parseSfdiskJson(r.stdout);
  const candidates = req.partition !== undefined ? parts.filter((p) => p.number === req.partition) : parts;
  if (req.partition !== undefined && candidates.length === 0) {
    throw new ImageError(`${req.file}: no partition ${req.partition} (partitions: ${parts.map((p) => p.number).join(', ') || 'none'})`);
  }
  const skipped: string[] = [];
  for (const p of candidates) {
    const range = { offset: p.start, size: p.size };
    if (p.type === ESP_GUID || MBR_SKIP.has(p.type)) {
      skipped.push(`${p.number}: ${p.type === ESP_GUID || p.type === 'ef' ? 'EFI system partition' : 'extended'}`);
      if (req.partition === undefined) continue;
    }
    const probe = await blkid(req.file, range);
    const fstype = req.fstype || probe.TYPE;
    if (!fstype || fstype === 'swap') {
      skipped.push(`${p.number}: ${fstype ?? 'no file system'}`);
      continue;
    }
    const device = await stack.loop(req.file, range);
    await stack.mount(['-t', fstype, '-o', mountOptions(fstype, req.options), device], req.target);
    return { device, fstype, partition: p.number };
  }
  throw new ImageError(`${req.file}: no mountable partition (${skipped.join('; ') || 'empty partition table'})`);
}
