/**
 * The bootable things under BASE_DIR, found the way LTSP's `list_img_names` finds them
 * (ltsp/common/ltsp/55-images.sh):
 *
 *   - exported images: `BASE_DIR/images/<name>.img` regular files (symlinks followed),
 *     listed by name without `.img`;
 *   - chroots: `BASE_DIR/<name>/` directories that contain a `proc/` directory
 *     (booted over plain NFS by the iPXE "roots" method).
 *
 * Each list is sorted and de-duplicated (LTSP pipes it through `sort -u`; we sort by
 * code unit, i.e. `LC_ALL=C` order). Names hidden from shell globs (leading dot) are
 * skipped, as `"$BASE_DIR/"*` skips them. Names LTSP refuses (commas, whitespace) and
 * names that cannot be an iPXE menu id are reported in `skipped` instead of listed.
 *
 * No cache: every call reads the directories again, so an image exported a second ago
 * is in the next generated menu.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface SkippedImage {
  path: string;
  reason: string;
}

export interface BootImages {
  /** Exported squashfs images (`images/<name>.img`), names without `.img`. */
  images: string[];
  /** Chroots (`<name>/proc` exists). */
  chroots: string[];
  /** Entries that look like images/chroots but cannot be booted by name. */
  skipped: SkippedImage[];
}

/**
 * Names usable as an LTSP image name and as an iPXE label/menu id. LTSP forbids commas
 * (mount-option separator) and whitespace (word splitting of `nfsroot=`); `:` would make
 * a label look like a MAC section, `$`/`{`/`}` would be expanded by iPXE.
 */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+@-]*$/;

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch {
    return []; // a missing BASE_DIR or images/ dir simply means "nothing to boot"
  }
}

function accept(name: string, path: string, out: Set<string>, skipped: SkippedImage[]): void {
  if (SAFE_NAME.test(name)) out.add(name);
  else skipped.push({ path, reason: `name '${name}' is not a valid LTSP image name (letters, digits, . _ + @ - only)` });
}

/** Exported images in `BASE_DIR/images/*.img`, sorted. */
export async function listExportedImages(baseDir: string, skipped: SkippedImage[] = []): Promise<string[]> {
  const dir = join(baseDir, 'images');
  const out = new Set<string>();
  for (const entry of await listDir(dir)) {
    if (!entry.endsWith('.img') || entry === '.img') continue;
    const path = join(dir, entry);
    if (await isFile(path)) accept(entry.slice(0, -'.img'.length), path, out, skipped);
  }
  return [...out].sort(byCodeUnit);
}

/** Chroots `BASE_DIR/<name>/` that contain `proc/`, sorted. */
export async function listChroots(baseDir: string, skipped: SkippedImage[] = []): Promise<string[]> {
  const out = new Set<string>();
  for (const entry of await listDir(baseDir)) {
    const path = join(baseDir, entry);
    if (await isDir(join(path, 'proc'))) accept(entry, path, out, skipped);
  }
  return [...out].sort(byCodeUnit);
}

/** Scan BASE_DIR afresh for images and chroots. */
export async function scanBootImages(baseDir: string): Promise<BootImages> {
  const skipped: SkippedImage[] = [];
  const [images, chroots] = await Promise.all([listExportedImages(baseDir, skipped), listChroots(baseDir, skipped)]);
  return { images, chroots, skipped };
}
