/**
 * LTSP's `img_src` mini-language and image naming (ltsp/common/ltsp/55-images.sh),
 * shared by `image` and `kernel`:
 *
 *   img1,opts1,,img2,opts2,,...
 *
 * Parts are separated by `,,`. In a part the first item is a path (the first part may be
 * a simple name such as `x86_64`), the rest are options; `partition=N`, `fstype=T` and
 * `subdir=D` are recognised only at the start of the option list, everything after them
 * goes to `mount -o`. Later paths are absolute or relative to the assembled root.
 */
import { realpath, stat } from 'node:fs/promises';
import { arch } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { ImageError } from './errors.js';

export interface ImgSrcPart {
  /** The path (or, for the first part, possibly a simple name). */
  path: string;
  partition?: number;
  fstype?: string;
  subdir?: string;
  /** Remaining options, comma-separated, for `mount -o` ('' = defaults). */
  options: string;
}

/** Split an img_src string into its parts. Pure. */
export function parseImgSrc(src: string): ImgSrcPart[] {
  if (src.trim() === '') throw new ImageError('empty image source');
  const parts: ImgSrcPart[] = [];
  for (const chunk of src.split(',,')) {
    if (chunk === '') continue;
    const items = chunk.split(',');
    const part: ImgSrcPart = { path: items[0] ?? '', options: '' };
    let i = 1;
    for (; i < items.length; i++) {
      const m = /^(partition|fstype|subdir)=(.*)$/.exec(items[i] ?? '');
      if (!m) break;
      const value = m[2] ?? '';
      if (m[1] === 'partition') {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) throw new ImageError(`bad partition=${value} in '${chunk}' (expected a partition number, 1 or more)`);
        part.partition = n;
      } else if (m[1] === 'fstype') part.fstype = value;
      else {
        part.subdir = value.replace(/^\/+/, '').replace(/\/+$/, '');
        if (part.subdir.split('/').some((c) => c === '..')) throw new ImageError(`subdir=${value}: '..' is not allowed`);
      }
    }
    part.options = items.slice(i).join(',');
    if (part.path === '') throw new ImageError(`image source part '${chunk}' has no path`);
    parts.push(part);
  }
  if (parts.length === 0) throw new ImageError(`no image source in '${src}'`);
  return parts;
}

/** `uname -m` as LTSP names chrootless images: every *86 becomes x86_32. */
export function machineImageName(machine: string): string {
  return /86$/.test(machine) ? 'x86_32' : machine;
}

/** `uname -m` from Node's arch names. */
export function unameMachine(): string {
  const map: Record<string, string> = { x64: 'x86_64', ia32: 'i686', arm64: 'aarch64', arm: 'armv7l', ppc64: 'ppc64le', riscv64: 'riscv64', s390x: 's390x' };
  return map[arch()] ?? arch();
}

/**
 * Reject names LTSP rejects: commas (mount option separator) and anything that changes
 * under shell word splitting (spaces, tabs, newlines), since `nfsroot=`/`ltsp.image=`
 * are not quoted by initramfs-tools. Pure.
 */
export function validateImageName(name: string, path: string): string {
  if (name === '') throw new ImageError(`cannot derive an image name from '${path}'`);
  if (name.includes(',')) throw new ImageError(`no commas allowed in LTSP image names: '${name}' (${path})`);
  if (/\s/.test(name)) throw new ImageError(`invalid LTSP image name '${name}' (${path}): no spaces allowed`);
  if (name.startsWith('.') || name.includes('/')) throw new ImageError(`invalid LTSP image name '${name}' (${path})`);
  return name;
}

/**
 * Image name from an image path, as LTSP's img_path_to_name: the basename, `.img`
 * stripped for files, `/` (also `.`/`..` resolving to it) named after the machine.
 */
export async function imagePathToName(imgPath: string, machine = unameMachine()): Promise<string> {
  let st;
  try {
    st = await stat(imgPath);
  } catch {
    throw new ImageError(`image doesn't exist: ${imgPath}`);
  }
  let real = imgPath;
  try {
    real = await realpath(imgPath);
  } catch {
    /* keep the given path */
  }
  let name = basename(imgPath.replace(/\/+$/, ''));
  if (name === '' || name === '.' || name === '..') name = real === '/' ? '' : basename(real);
  if (name === '' && real === '/') name = machineImageName(machine);
  if (st.isFile() && name.endsWith('.img')) name = name.slice(0, -4);
  return validateImageName(name, imgPath);
}

async function kind(p: string): Promise<'dir' | 'file' | 'other' | undefined> {
  try {
    const s = await stat(p);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch {
    return undefined;
  }
}

/** Which kinds of source a simple name may resolve to, in LTSP's priority order. */
export type SourceKind = 'chroot' | 'vm' | 'image';

/**
 * Resolve the first path of an img_src as LTSP's add_path_to_src: `/…` and `.…` are used
 * as given; a simple name is tried as chroot `BASE_DIR/<n>` (with `proc/`), VM disk
 * `BASE_DIR/<n>.img`, exported image `BASE_DIR/images/<n>.img` (in `priority` order),
 * then as a path relative to BASE_DIR, then relative to the current directory.
 */
export async function resolveImagePath(img: string, baseDir: string, cwd = process.cwd(), priority: SourceKind[] = ['chroot', 'vm', 'image']): Promise<string> {
  if (img.startsWith('/') || img.startsWith('.')) return isAbsolute(img) ? img : resolve(cwd, img);
  for (const p of priority) {
    if (p === 'chroot' && (await kind(join(baseDir, img, 'proc'))) === 'dir') return join(baseDir, img);
    if (p === 'vm' && (await kind(join(baseDir, `${img}.img`))) === 'file') return join(baseDir, `${img}.img`);
    if (p === 'image' && (await kind(join(baseDir, 'images', `${img}.img`))) === 'file') return join(baseDir, 'images', `${img}.img`);
  }
  if (await kind(join(baseDir, img))) return join(baseDir, img);
  if (await kind(resolve(cwd, img))) return resolve(cwd, img);
  throw new ImageError(`unknown image '${img}': no chroot ${join(baseDir, img)}/ (with proc/), no VM disk ${join(baseDir, img)}.img, no ${join(baseDir, 'images', img)}.img`);
}

/** Resolved first part: the image's path, its name and what kind of source it is. */
export interface ResolvedSource {
  parts: ImgSrcPart[];
  path: string;
  name: string;
  isFile: boolean;
}

/** Parse and resolve an img_src argument (first part only; later parts resolve at mount time). */
export async function resolveSource(src: string, baseDir: string, cwd = process.cwd(), priority?: SourceKind[]): Promise<ResolvedSource> {
  const parts = parseImgSrc(src);
  const first = parts[0]!;
  if (/\s/.test(first.path) && !first.path.includes('/')) throw new ImageError(`invalid LTSP image name '${first.path}': no spaces allowed`);
  const path = await resolveImagePath(first.path, baseDir, cwd, priority);
  const name = await imagePathToName(path);
  return { parts, path, name, isFile: (await kind(path)) === 'file' };
}
