/**
 * `ltsp-ts kernel`: copy an image's kernel and initrd to TFTP_DIR/ltsp/<name>/vmlinuz and
 * initrd.img (mode 644), each written to a temporary file and renamed into place, so a
 * client fetching the old kernel never gets half a new one.
 *
 * Sources: a squashfs image is read without mounting (`unsquashfs -lls` to list,
 * `unsquashfs -cat` to extract); a chroot directory is read directly; a VM disk or a
 * multi-part img_src is mounted read-only with an overlay (as `image` does) and released.
 */
import { constants } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, open, readdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Logger } from '../log.js';
import { assembleRoot } from './assemble.js';
import { ImageError } from './errors.js';
import { resolveSource, type ResolvedSource } from './img-src.js';
import { KERNEL_DIRS, parseKernelInitrd, parseUnsquashfsListing, resolveInTree, searchKernel, type FileTree, type KernelPair, type TreeNode } from './kernel-search.js';
import { MountStack } from './mounts.js';
import { requireRoot, requireTool } from './tools.js';

export interface KernelOptions {
  baseDir: string;
  tftpDir: string;
  /** "GLOB SED" override tried before LTSP's table (-k / KERNEL_INITRD). */
  kernelInitrd?: string;
  log?: Logger;
  cwd?: string;
}

export interface KernelResult {
  name: string;
  /** Paths inside the image (symlinks resolved). */
  vmlinuz: string;
  initrd: string;
  /** Installed files. */
  vmlinuzPath: string;
  initrdPath: string;
  /** True when TFTP_DIR/ltsp/<name>/vmlinuz did not exist before. */
  firstTime: boolean;
}

/** True when the file starts with the squashfs magic ('hsqs'). */
export async function isSquashfs(path: string): Promise<boolean> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.toString('latin1') === 'hsqs';
  } finally {
    await fh.close();
  }
}

/** A listing of a directory tree limited to what the kernel table can reach (null extra = all, 4 levels). */
export async function directoryTree(root: string, extraDirs: string[] | null = []): Promise<FileTree> {
  const tree: FileTree = new Map([['', { type: 'dir' }]]);
  const walk = async (rel: string, depth: number, recurse: boolean): Promise<void> => {
    const entries = await readdir(join(root, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = rel === '' ? e.name : `${rel}/${e.name}`;
      let node: TreeNode;
      if (e.isSymbolicLink()) node = { type: 'symlink', target: await readlink(join(root, p)) };
      else node = { type: e.isFile() ? 'file' : e.isDirectory() ? 'dir' : 'other' };
      tree.set(p, node);
      const wanted = recurse || extraDirs === null || (rel === '' && [...KERNEL_DIRS, ...extraDirs].includes(e.name));
      if (node.type === 'dir' && wanted && depth < 4) await walk(p, depth + 1, true);
    }
  };
  await walk('', 0, false);
  return tree;
}

/** A listing of a squashfs image, limited like directoryTree (null extra = everything). */
export async function squashfsTree(image: string, extraDirs: string[] | null = []): Promise<FileTree> {
  await requireTool('unsquashfs');
  const filter = extraDirs === null ? [] : ['vmlinuz*', 'initrd*', 'initramfs*', 'core.gz', ...KERNEL_DIRS, ...extraDirs];
  const r = await execa('unsquashfs', ['-lls', '-d', '', image, ...filter], { reject: false, stdin: 'ignore', maxBuffer: 256 * 1024 * 1024 });
  if (r.exitCode !== 0) throw new ImageError(`unsquashfs -lls ${image} failed: ${r.stderr.trim().split('\n').slice(-3).join('\n')}`);
  return parseUnsquashfsListing(r.stdout);
}

/** First path component of a user glob if it is a plain name (so the listing can be limited). */
function userDirs(kernelInitrd?: string): string[] | null {
  if (!kernelInitrd) return [];
  const first = parseKernelInitrd(kernelInitrd).glob.split('/').filter(Boolean)[0] ?? '';
  return /[*?[]/.test(first) ? null : [first];
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

/** Write `produce(tmp)` output to `dest` via a temporary file in the same directory, mode 644. */
async function installAtomically(dest: string, produce: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    await produce(tmp);
    await chmod(tmp, 0o644);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function install(name: string, pair: KernelPair, tree: FileTree, o: KernelOptions, copyOut: (inImage: string, tmp: string) => Promise<void>): Promise<KernelResult> {
  const vmlinuz = resolveInTree(tree, pair.vmlinuz)!;
  const initrd = resolveInTree(tree, pair.initrd)!;
  const dir = join(o.tftpDir, 'ltsp', name);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const vmlinuzPath = join(dir, 'vmlinuz');
  const initrdPath = join(dir, 'initrd.img');
  const firstTime = !(await exists(vmlinuzPath));
  await installAtomically(vmlinuzPath, (tmp) => copyOut(vmlinuz, tmp));
  await installAtomically(initrdPath, (tmp) => copyOut(initrd, tmp));
  o.log?.info({ vmlinuz, initrd, to: dir }, 'kernel and initrd installed');
  if (firstTime) o.log?.info(`new image directory ${dir}: the HTTP menu shows it now; for TFTP-only setups run: ltsp-ts ipxe`);
  return { name, vmlinuz, initrd, vmlinuzPath, initrdPath, firstTime };
}

function notFound(src: string): ImageError {
  return new ImageError(`could not locate vmlinuz and initrd.img in ${src} (try -k "GLOB SED", e.g. -k "boot/vmlinuz-* s|vmlinuz|initrd.img|")`);
}

/** Kernel extraction for an already resolved source. */
export async function extractKernelFrom(src: ResolvedSource, o: KernelOptions): Promise<KernelResult> {
  const user = o.kernelInitrd ? parseKernelInitrd(o.kernelInitrd) : undefined;
  const single = src.parts.length === 1;
  if (single && src.isFile && (await isSquashfs(src.path))) {
    const tree = await squashfsTree(src.path, userDirs(o.kernelInitrd));
    const pair = searchKernel(tree, user);
    if (!pair) throw notFound(src.path);
    return install(src.name, pair, tree, o, async (inImage, tmp) => {
      const r = await execa('unsquashfs', ['-cat', src.path, inImage], { stdin: 'ignore', stdout: { file: tmp }, reject: false });
      if (r.exitCode !== 0) throw new ImageError(`unsquashfs -cat ${src.path} ${inImage} failed: ${r.stderr.trim()}`);
    });
  }
  if (single && !src.isFile) {
    const tree = await directoryTree(src.path, userDirs(o.kernelInitrd));
    const pair = searchKernel(tree, user);
    if (!pair) throw notFound(src.path);
    return install(src.name, pair, tree, o, (inImage, tmp) => copyFile(join(src.path, inImage), tmp, constants.COPYFILE_EXCL));
  }
  // VM disks and multi-part sources: mount as `image` does, read, release.
  requireRoot(`ltsp-ts kernel ${src.path}`);
  const stack = new MountStack(o.log);
  try {
    const { root } = await assembleRoot(src.parts, { firstPath: src.path, stack, log: o.log });
    const tree = await directoryTree(root, userDirs(o.kernelInitrd));
    const pair = searchKernel(tree, user);
    if (!pair) throw notFound(src.path);
    return await install(src.name, pair, tree, o, (inImage, tmp) => copyFile(join(root, inImage), tmp, constants.COPYFILE_EXCL));
  } finally {
    await stack.releaseAll();
  }
}

/** `ltsp-ts kernel IMG_SRC`: resolve (chroot, VM, image, path) and extract. */
export async function extractKernel(imgSrc: string, o: KernelOptions): Promise<KernelResult> {
  const src = await resolveSource(imgSrc, o.baseDir, o.cwd);
  if (!src.isFile && src.parts.length === 1 && !(await stat(src.path)).isDirectory()) throw new ImageError(`${src.path}: not a directory or image file`);
  return extractKernelFrom(src, o);
}
