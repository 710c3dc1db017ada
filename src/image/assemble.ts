/**
 * Mount an img_src as one writeable root, LTSP's mount_img_src + overlay: every part gets
 * a read-only lower layer (the directory itself, or the loop-mounted file) and a tmpfs
 * upper layer, merged by overlayfs on the root (or on root/<subdir>). Cleanup then writes
 * into tmpfs only; the source is never written. overlayfs does not show submounts of a
 * lower directory, which is why separate partitions (`/boot`) are listed as extra parts.
 */
import { mkdir, mkdtemp, realpath, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { mountFile } from './disk.js';
import { ImageError } from './errors.js';
import type { ImgSrcPart } from './img-src.js';
import type { MountStack } from './mounts.js';

export interface AssembleOptions {
  /** Absolute path of the first part (from resolveSource). */
  firstPath: string;
  stack: MountStack;
  log?: Logger;
  /** Parent of the private work directory (default os.tmpdir()). */
  tmpParent?: string;
}

export interface AssembledRoot {
  /** The merged root; mksquashfs reads it. */
  root: string;
  /** Private work directory (mode 0700) holding root/ and tmpfs/. */
  workDir: string;
}

/** overlayfs splits lowerdir on ':' and options on ','; such paths would be misparsed. */
function overlayPath(p: string): string {
  if (/[,:\\]/.test(p)) throw new ImageError(`cannot use '${p}' as an overlay layer: the path contains ',', ':' or '\\'`);
  return p;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A symlink in the image (boot -> /boot) must never redirect a mkdir or a mount onto the
 * host: the deepest existing ancestor of `target` must resolve inside `root`.
 */
async function assertInside(root: string, target: string): Promise<void> {
  let p = target;
  for (;;) {
    try {
      const real = await realpath(p);
      if (real !== root && !real.startsWith(`${root}/`)) throw new ImageError(`${target} resolves outside the image root (${real})`);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      p = dirname(p);
    }
  }
}

async function mkdirTracked(p: string, stack: MountStack): Promise<void> {
  await mkdir(p, { mode: 0o700 });
  stack.dir(p);
}

export async function assembleRoot(parts: ImgSrcPart[], o: AssembleOptions): Promise<AssembledRoot> {
  const { stack } = o;
  // mkdtemp gives mode 0700: other users cannot look into the mounted root (LTSP #336).
  const workDir = await mkdtemp(join(o.tmpParent ?? tmpdir(), 'ltsp-ts-image-'));
  stack.dir(workDir);
  const root = join(workDir, 'root');
  await mkdirTracked(root, stack);
  const tmpfs = join(workDir, 'tmpfs');
  await mkdirTracked(tmpfs, stack);
  await stack.mount(['-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs'], tmpfs);

  for (const [i, part] of parts.entries()) {
    const src = i === 0 ? o.firstPath : isAbsolute(part.path) ? part.path : resolve(root, part.path);
    const target = part.subdir ? join(root, part.subdir) : root;
    let st;
    try {
      st = await stat(src);
    } catch {
      throw new ImageError(`image source doesn't exist: ${src}`);
    }
    const layer = join(tmpfs, String(i));
    await mkdir(layer); // on the tmpfs: goes away with it
    let lower: string;
    if (st.isDirectory()) {
      lower = src;
    } else if (st.isFile() || st.isBlockDevice()) {
      lower = join(layer, 'looproot');
      await mkdir(lower);
      const m = await mountFile({ file: src, target: lower, partition: part.partition, fstype: part.fstype, options: part.options }, stack);
      o.log?.info({ src, device: m.device, fstype: m.fstype, partition: m.partition }, 'loop-mounted image source');
    } else {
      throw new ImageError(`image source is neither a directory nor a file: ${src}`);
    }
    if (!(await isDir(target))) {
      await assertInside(root, target);
      // e.g. subdir=boot/efi missing in the root: created in the overlay's upper layer.
      await mkdir(target, { recursive: true });
    }
    await assertInside(root, target);
    await mkdir(join(layer, 'up'));
    await mkdir(join(layer, 'work'));
    await stack.mount(
      ['-t', 'overlay', '-o', `lowerdir=${overlayPath(lower)},upperdir=${join(layer, 'up')},workdir=${join(layer, 'work')}`, 'overlay'],
      target,
    );
    o.log?.debug({ src, target }, 'image part mounted');
  }
  return { root, workDir };
}
