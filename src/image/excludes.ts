/**
 * The exclude list handed to `mksquashfs -wildcards -ef`, chosen as LTSP does
 * (65-mksquashfs.sh image_excludes): /etc/ltsp/image.excludes when it exists, else the
 * default list (image.excludes beside this module); ADD_IMAGE_EXCLUDES and
 * OMIT_IMAGE_EXCLUDES (each a file name or the lines themselves) add/remove lines, and
 * the merged list drops `#` lines and is sorted and de-duplicated.
 */
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const SYSTEM_EXCLUDES = '/etc/ltsp/image.excludes';

/**
 * The shipped default list. From src/ (vitest) it is beside this file; from the compiled
 * dist/src/image/ it is found in the package's src/image/.
 */
export function defaultExcludesFile(): string {
  const candidates = [new URL('./image.excludes', import.meta.url), new URL('../../../src/image/image.excludes', import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  return fileURLToPath(candidates[1]!);
}

function sortedUnique(lines: string[]): string[] {
  return [...new Set(lines)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** ADD/OMIT list: the file's lines when the value names a file, else the value's lines. Pure split. */
function valueLines(v: string): string[] {
  return v.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l !== '');
}

async function readValue(v: string): Promise<string[]> {
  if (!v.includes('\n') && v.startsWith('/')) {
    const st = await stat(v).catch(() => undefined);
    if (st?.isFile()) return valueLines(await readFile(v, 'utf8'));
  }
  return valueLines(v);
}

/** base minus omit plus add, `#` lines dropped, sorted unique (LTSP's comm/sort pipeline). Pure. */
export function mergeExcludes(base: string[], add: string[], omit: string[]): string[] {
  const o = new Set(omit);
  return sortedUnique([...add, ...base.filter((l) => !o.has(l))].filter((l) => l !== '' && !l.startsWith('#')));
}

export interface ExcludeSettings {
  /** Replacement list file (default /etc/ltsp/image.excludes when it exists). */
  file?: string;
  add?: string;
  omit?: string;
}

/**
 * Path of the excludes file to pass to mksquashfs. Without ADD/OMIT it is the chosen file
 * itself; otherwise the merged list is written to `tmpFile`.
 */
export async function excludesFor(s: ExcludeSettings, tmpFile: string): Promise<string> {
  const src = s.file ?? (existsSync(SYSTEM_EXCLUDES) ? SYSTEM_EXCLUDES : defaultExcludesFile());
  if (!s.add && !s.omit) return src;
  const base = valueLines(await readFile(src, 'utf8'));
  const merged = mergeExcludes(base, s.add ? await readValue(s.add) : [], s.omit ? await readValue(s.omit) : []);
  await writeFile(tmpFile, merged.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  return tmpFile;
}
