/**
 * What is set up for booting and what is missing (`ltsp-ts info`): the iPXE/memtest
 * binaries and ltsp.ipxe in TFTP_DIR/ltsp, LTSP's client initrd ltsp.img, the images,
 * chroots and VM disks in BASE_DIR, each image's kernel and initrd, and the NFS exports.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listChroots, listExportedImages } from '../boot/images.js';
import { listVmDisks } from './list.js';
import { DEFAULT_EXPORTS_FILE } from './nfs.js';

export interface FileState {
  path: string;
  present: boolean;
  size?: number;
  mtime?: string;
}

export interface ImageState {
  name: string;
  image: FileState;
  backup: FileState;
  vmlinuz: FileState;
  initrd: FileState;
}

export interface SetupInfo {
  baseDir: string;
  tftpDir: string;
  binaries: FileState[];
  ipxeScript: FileState;
  ltspImg: FileState;
  images: ImageState[];
  chroots: string[];
  vmDisks: string[];
  exports: FileState & { exportsBaseDir?: boolean };
  /** Human-readable problems with the command that fixes each. */
  missing: string[];
}

async function fileState(path: string): Promise<FileState> {
  const st = await stat(path).catch(() => undefined);
  return st?.isFile() ? { path, present: true, size: st.size, mtime: st.mtime.toISOString() } : { path, present: false };
}

export async function gatherInfo(baseDir: string, tftpDir: string, exportsFile = DEFAULT_EXPORTS_FILE): Promise<SetupInfo> {
  const ltsp = join(tftpDir, 'ltsp');
  const missing: string[] = [];
  const binaries = await Promise.all(['undionly.kpxe', 'snponly.efi', 'memtest.0', 'memtest.efi'].map((f) => fileState(join(ltsp, f))));
  for (const b of binaries.slice(0, 2)) if (!b.present) missing.push(`${b.path}: missing; run: ltsp-ts ipxe (needs the Debian package ipxe)`);
  const ipxeScript = await fileState(join(ltsp, 'ltsp.ipxe'));
  const ltspImg = await fileState(join(ltsp, 'ltsp.img'));
  if (!ltspImg.present) missing.push(`${ltspImg.path}: missing; it comes from LTSP's own \`ltsp initrd\` (Debian package ltsp)`);
  const names = await listExportedImages(baseDir);
  const images: ImageState[] = [];
  for (const name of names) {
    const img = join(baseDir, 'images', `${name}.img`);
    const st: ImageState = {
      name,
      image: await fileState(img),
      backup: await fileState(`${img}.old`),
      vmlinuz: await fileState(join(ltsp, name, 'vmlinuz')),
      initrd: await fileState(join(ltsp, name, 'initrd.img')),
    };
    if (!st.vmlinuz.present || !st.initrd.present) missing.push(`${name}: no kernel/initrd in ${join(ltsp, name)}; run: ltsp-ts kernel ${name}`);
    images.push(st);
  }
  const chroots = await listChroots(baseDir);
  const vmDisks = await listVmDisks(baseDir);
  if (names.length === 0) missing.push(`no images in ${join(baseDir, 'images')}; run: ltsp-ts image <chroot|vm|/>`);
  const ex = await fileState(exportsFile);
  const exports: SetupInfo['exports'] = { ...ex };
  if (ex.present) {
    const text = await readFile(exportsFile, 'utf8');
    exports.exportsBaseDir = text.split('\n').some((l) => l.split(/\s+/)[0]?.replace(/^"|"$/g, '') === baseDir);
    if (!exports.exportsBaseDir) missing.push(`${exportsFile} does not export ${baseDir}; run: ltsp-ts nfs`);
  } else missing.push(`${exportsFile}: missing; run: ltsp-ts nfs (or ltsp-ts nfs --ganesha FILE without a kernel NFS server)`);
  return { baseDir, tftpDir, binaries, ipxeScript, ltspImg, images, chroots, vmDisks, exports, missing };
}

function mark(f: FileState): string {
  return f.present ? `ok   ${f.path} (${f.size} bytes)` : `--   ${f.path} (missing)`;
}

/** The text `ltsp-ts info` prints. Pure. */
export function formatInfo(i: SetupInfo): string {
  const out: string[] = [`BASE_DIR ${i.baseDir}`, `TFTP_DIR ${i.tftpDir}`, '', 'Boot files:'];
  for (const f of [...i.binaries, i.ipxeScript, i.ltspImg]) out.push(`  ${mark(f)}`);
  out.push('', `Images (${i.images.length}):`);
  for (const im of i.images) {
    out.push(`  ${im.name}: ${im.image.size} bytes${im.backup.present ? ', backup .old present' : ''}`);
    out.push(`    ${mark(im.vmlinuz)}`, `    ${mark(im.initrd)}`);
  }
  out.push(`Chroots: ${i.chroots.join(' ') || '(none)'}`, `VM disks: ${i.vmDisks.join(' ') || '(none)'}`, '', 'NFS:', `  ${mark(i.exports)}`);
  out.push('', i.missing.length ? 'Missing:' : 'Nothing missing.');
  for (const m of i.missing) out.push(`  - ${m}`);
  return `${out.join('\n')}\n`;
}
