/**
 * `ltsp-ts image`: squash an image source into BASE_DIR/images/<name>.img, the way
 * `ltsp image` does (ltsp/server/image/*.sh, ltsp-behaviour.md §2):
 *
 *   resolve the source → lock → mount it read-only under a tmpfs overlay → cleanup →
 *   mksquashfs to <name>.img.tmp → <name>.img → <name>.img.old (backup) →
 *   <name>.img.tmp → <name>.img → release mounts → kernel extraction.
 *
 * The renames keep inodes, so clients reading the old image over NFS keep reading it.
 * Whatever stops the build (Ctrl-C, SIGTERM, mksquashfs failing or killed, an error of
 * ours), the finally block removes the .tmp, releases every mount and loop device we
 * made (MountStack) and the lock; the old image is only ever touched by the two renames.
 */
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { assembleRoot } from './assemble.js';
import { cleanupRoot, type CleanupReport } from './cleanup.js';
import { ImageError, InterruptedError } from './errors.js';
import { excludesFor, type ExcludeSettings } from './excludes.js';
import { resolveSource, validateImageName } from './img-src.js';
import { extractKernel, type KernelResult } from './kernel.js';
import { lockImage } from './lock.js';
import { MountStack } from './mounts.js';
import { ionicePrefix, mksquashfsArgv, runMksquashfs, wordSplit } from './squash.js';
import { requireRoot, requireTool } from './tools.js';

export interface ImageBuildOptions {
  baseDir: string;
  tftpDir: string;
  /** Keep the previous image as .img.old (-b, default true). */
  backup: boolean;
  /** Remove users, keys, logs... in the overlay (-c, default true). */
  cleanup: boolean;
  /** -i: undefined = `nice ionice -c3` when available, '' = none. */
  ionice?: string;
  /** -k: "GLOB SED" for kernel extraction. */
  kernelInitrd?: string;
  /** -m: extra mksquashfs parameters, word-split. */
  mksquashfsParams?: string;
  excludes?: ExcludeSettings;
  progress: 'tty' | 'log' | 'none';
  log?: Logger;
  cwd?: string;
  /** Skip kernel extraction (tests, `bench/image`). */
  noKernel?: boolean;
  /** Test hook: called with mksquashfs's pid. */
  onMksquashfs?: (pid: number) => void;
}

export interface ImageBuildResult {
  name: string;
  image: string;
  backup?: string;
  cleanup?: CleanupReport;
  kernel?: KernelResult;
  /** Kernel extraction error (the image itself was built). */
  kernelError?: string;
}

/** images/ holds the system's /etc/shadow: 0700 (LTSP #336). */
export async function imagesDir(baseDir: string): Promise<string> {
  const dir = join(baseDir, 'images');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (((await stat(dir)).mode & 0o777) !== 0o700) await chmod(dir, 0o700);
  return dir;
}

/** Run `fn` with SIGINT/SIGTERM turned into an abort of `controller` (and nothing else). */
async function withSignals<T>(controller: AbortController, fn: () => Promise<T>): Promise<T> {
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => {
    const h = () => controller.abort(new InterruptedError(sig));
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    return await fn();
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new ImageError('aborted');
}

export async function buildImage(imgSrc: string, o: ImageBuildOptions): Promise<ImageBuildResult> {
  requireRoot('ltsp-ts image');
  await requireTool('mksquashfs');
  await requireTool('mount');
  const src = await resolveSource(imgSrc, o.baseDir, o.cwd);
  if (src.isFile || src.parts.some((p) => p.path !== src.parts[0]!.path)) await requireTool('losetup');
  const log = o.log?.child({ image: src.name });
  const dir = await imagesDir(o.baseDir);
  const lock = await lockImage(dir, src.name);
  const image = join(dir, `${src.name}.img`);
  const tmp = `${image}.tmp`;
  const old = `${image}.old`;
  const stack = new MountStack(log);
  const controller = new AbortController();
  const result: ImageBuildResult = { name: src.name, image };
  try {
    await withSignals(controller, async () => {
      const { root, workDir } = await assembleRoot(src.parts, { firstPath: src.path, stack, log });
      checkAborted(controller.signal);
      // LTSP: a directory source must be a chroot (contain proc/).
      if (!(await stat(join(root, 'proc')).catch(() => undefined))?.isDirectory()) {
        throw new ImageError(`${src.path} is not a chroot or root file system (no proc/ directory in it)`);
      }
      if (o.cleanup) {
        log?.info(`cleaning up ${src.name} before mksquashfs`);
        result.cleanup = await cleanupRoot(root, log);
        log?.info({ removedUsers: result.cleanup.removedUsers, truncated: result.cleanup.truncated.length }, 'cleanup done');
      }
      checkAborted(controller.signal);
      const excludes = await excludesFor(o.excludes ?? {}, join(workDir, 'tmpfs', 'image.excludes.tmp'));
      const argv = mksquashfsArgv(await ionicePrefix(o.ionice), root, tmp, excludes, wordSplit(o.mksquashfsParams));
      await runMksquashfs({ argv, signal: controller.signal, log, progress: o.progress, label: src.name, onSpawn: o.onMksquashfs });
      checkAborted(controller.signal);
      if (o.backup && (await stat(image).catch(() => undefined))?.isFile()) {
        await rename(image, old);
        result.backup = old;
      }
      await rename(tmp, image);
      log?.info({ path: image }, 'image built');
    });
  } finally {
    await rm(tmp, { force: true });
    try {
      await stack.releaseAll();
    } finally {
      await lock.release();
    }
  }
  if (!o.noKernel) {
    log?.info(`running: ltsp-ts kernel ${image}`);
    try {
      result.kernel = await extractKernel(image, { baseDir: o.baseDir, tftpDir: o.tftpDir, kernelInitrd: o.kernelInitrd, log, cwd: o.cwd });
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      result.kernelError = err.message;
      log?.warn(err.message);
    }
  }
  return result;
}

/** `ltsp-ts image -r`: swap .img and .img.old (or move .old into place), then extract the kernel. */
export async function revertImage(imgSrc: string, o: Pick<ImageBuildOptions, 'baseDir' | 'tftpDir' | 'kernelInitrd' | 'log' | 'cwd' | 'noKernel'>): Promise<ImageBuildResult> {
  // A plain name need not exist as a source any more: only its .img.old may be left.
  const name = /^[^,/\s.][^,/\s]*$/.test(imgSrc) ? validateImageName(imgSrc, imgSrc) : (await resolveSource(imgSrc, o.baseDir, o.cwd)).name;
  const src = { name };
  const dir = join(o.baseDir, 'images');
  const image = join(dir, `${src.name}.img`);
  const old = `${image}.old`;
  if (!(await stat(old).catch(() => undefined))?.isFile()) throw new ImageError(`cannot revert, backup is missing: ${old}`);
  const lock = await lockImage(dir, src.name);
  try {
    if ((await stat(image).catch(() => undefined))?.isFile()) {
      await rename(image, `${image}.tmp`);
      await rename(old, image);
      await rename(`${image}.tmp`, old);
      o.log?.info(`swapped ${image} with ${old}`);
    } else {
      await rename(old, image);
      o.log?.info(`moved ${old} to ${image}`);
    }
  } finally {
    await lock.release();
  }
  const result: ImageBuildResult = { name: src.name, image, backup: old };
  if (!o.noKernel) {
    try {
      result.kernel = await extractKernel(image, { baseDir: o.baseDir, tftpDir: o.tftpDir, kernelInitrd: o.kernelInitrd, log: o.log, cwd: o.cwd });
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      result.kernelError = err.message;
      o.log?.warn(err.message);
    }
  }
  return result;
}
