/**
 * Every image source under BASE_DIR, as LTSP's list_img_names: chroots (`<name>/proc`),
 * VM disks (`<name>.img` files) and exported images (`images/<name>.img`), names sorted
 * and unique. Chroots and exported images come from the scanner the boot menu uses.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listChroots, listExportedImages } from '../boot/images.js';

/** VM raw disks `BASE_DIR/<name>.img` (regular files, symlinks followed). */
export async function listVmDisks(baseDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(baseDir).catch(() => [] as string[])) {
    if (!e.endsWith('.img') || e.startsWith('.')) continue;
    if ((await stat(join(baseDir, e)).catch(() => undefined))?.isFile()) out.push(e.slice(0, -4));
  }
  return out.sort();
}

export async function listImageSources(baseDir: string): Promise<string[]> {
  const [c, v, i] = await Promise.all([listChroots(baseDir), listVmDisks(baseDir), listExportedImages(baseDir)]);
  return [...new Set([...c, ...v, ...i])].sort();
}
