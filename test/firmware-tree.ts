/**
 * An LTSP tree for real-firmware boots: iPXE binaries, the harness's Debian kernel and
 * marker initrd as image x86_64, an empty ltsp.img (a valid newc cpio), and an ltsp.conf
 * that hides the menu and puts the serial console on the kernel command line.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const run = promisify(execFile);
export const HARNESS = path.resolve('..', 'shared', 'harness');
export const HARNESS_ASSETS = process.env['HARNESS_ASSETS'] ?? path.join(tmpdir(), 'ltsp-harness-assets');

/** A newc cpio archive holding only the trailer (what `cpio -o -H newc < /dev/null` writes). */
export function emptyNewcCpio(): Buffer {
  const fields = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0].map((n) => n.toString(16).toUpperCase().padStart(8, '0')).join('');
  const entry = Buffer.from(`070701${fields}TRAILER!!!\0`, 'latin1');
  const out = Buffer.alloc(512);
  entry.copy(out);
  return out;
}

export async function prepareFirmwareTree(): Promise<{ tftpDir: string; baseDir: string; conf: string }> {
  const ltspAssets = path.join(HARNESS_ASSETS, 'tftp', 'ltsp');
  if (!existsSync(path.join(ltspAssets, 'x86_64', 'vmlinuz'))) {
    await run(path.join(HARNESS, 'build-assets.sh'), [], { timeout: 900_000, env: { ...process.env, HARNESS_ASSETS }, maxBuffer: 32 << 20 });
  }
  const root = path.join(tmpdir(), 'ltsp-ts-firmware');
  const tftpDir = path.join(root, 'tftp');
  const baseDir = path.join(root, 'base');
  await mkdir(path.join(tftpDir, 'ltsp'), { recursive: true });
  await mkdir(path.join(baseDir, 'images'), { recursive: true, mode: 0o700 });
  for (const f of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi', 'x86_64']) {
    await cp(path.join(ltspAssets, f), path.join(tftpDir, 'ltsp', f), { recursive: true });
  }
  await writeFile(path.join(tftpDir, 'ltsp', 'ltsp.img'), emptyNewcCpio());
  await writeFile(path.join(baseDir, 'images', 'x86_64.img'), '');
  const conf = path.join(root, 'ltsp.conf');
  // Single quotes: ${platform} is for iPXE, not for ltsp.conf's shell expansion.
  await writeFile(conf, "[server]\nMENU_TIMEOUT=-1\nKERNEL_PARAMETERS='console=ttyS0,115200 panic=-1 quiet harness.token=ltsp-ts-${platform}'\n");
  return { tftpDir, baseDir, conf };
}
