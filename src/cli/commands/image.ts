/**
 * `ltsp-ts image [-b 0|1] [-c 0|1] [-i CMD] [-k GLOB] [-m PARAMS] [-r] [IMAGE...]`:
 * LTSP's `ltsp image` (options, defaults, source resolution; see src/image/build.ts).
 * Without IMAGE every chroot, VM disk and exported image is rebuilt, refused for more
 * than 3 unless ALL_IMAGES=1, as LTSP does.
 */
import type { Command } from 'commander';
import { buildImage, revertImage } from '../../image/build.js';
import { ImageError } from '../../image/errors.js';
import { listImageSources } from '../../image/list.js';
import { flag01, ltspSetting } from '../../image/settings.js';
import { CliError, commandContext } from '../context.js';

interface ImageOptions {
  backup?: string;
  cleanup?: string;
  ionice?: string;
  kernelInitrd?: string;
  mksquashfsParams?: string;
  revert?: string | boolean;
}

/** ImageError → CliError with its exit code; everything else propagates. */
export function asCliError(err: unknown): never {
  if (err instanceof ImageError) throw new CliError(err.message, err.exitCode);
  throw err;
}

/** Image sources to act on: the arguments, or all of them with LTSP's >3 guard. */
export async function imageArgs(args: string[], baseDir: string, all: string | undefined, what: string): Promise<string[]> {
  if (args.length > 0) return args;
  const found = await listImageSources(baseDir);
  if (found.length === 0) throw new CliError(`${what}: no images found in ${baseDir} (chroots, VM disks or images/*.img)`);
  if (found.length > 3 && all !== '1') {
    throw new CliError(`refusing to run ${what} for ${found.length} detected images (${found.join(' ')}); set ALL_IMAGES=1 to allow this`);
  }
  return found;
}

export function register(program: Command): void {
  program
    .command('image')
    .description('build a squashfs image from a chroot, a VM disk or / (as `ltsp image`)')
    .argument('[image...]', 'image sources: a name in BASE_DIR, a path, / or an img_src like /,,/boot,subdir=boot')
    .option('-b, --backup <0|1>', 'keep the previous image as <name>.img.old (default 1)')
    .option('-c, --cleanup <0|1>', 'remove users, ssh keys, logs... from the image (default 1)')
    .option('-i, --ionice <cmd>', 'prefix for mksquashfs (default "nice ionice -c3"; "" for none)')
    .option('-k, --kernel-initrd <glob>', 'kernel glob and initrd sed expression for the kernel step, e.g. "vmlinuz-* s|vmlinuz|initrd.img|"')
    .option('-m, --mksquashfs-params <params>', 'extra mksquashfs parameters, e.g. "-comp zstd"')
    .option('-r, --revert [0|1]', 'swap <name>.img and <name>.img.old, then extract the kernel')
    .action(async (args: string[], opts: ImageOptions, cmd: Command) => {
      const { loaded, log } = await commandContext(cmd);
      const s = loaded.serverSettings;
      const { baseDir, tftpDir } = loaded.config;
      try {
        const revert = flag01(opts.revert === true ? '1' : opts.revert === false ? undefined : (opts.revert ?? ltspSetting('REVERT', s)), false, '--revert');
        const kernelInitrd = opts.kernelInitrd ?? ltspSetting('KERNEL_INITRD', s);
        const sources = await imageArgs(args, baseDir, ltspSetting('ALL_IMAGES', s), 'ltsp-ts image');
        for (const src of sources) {
          if (revert) {
            const r = await revertImage(src, { baseDir, tftpDir, kernelInitrd, log });
            process.stdout.write(`reverted ${r.image}\n`);
            continue;
          }
          const r = await buildImage(src, {
            baseDir,
            tftpDir,
            backup: flag01(opts.backup ?? ltspSetting('BACKUP', s), true, '--backup'),
            cleanup: flag01(opts.cleanup ?? ltspSetting('CLEANUP', s), true, '--cleanup'),
            ionice: opts.ionice ?? ltspSetting('IONICE', s),
            kernelInitrd,
            mksquashfsParams: opts.mksquashfsParams ?? ltspSetting('MKSQUASHFS_PARAMS', s),
            excludes: { add: ltspSetting('ADD_IMAGE_EXCLUDES', s), omit: ltspSetting('OMIT_IMAGE_EXCLUDES', s) },
            progress: process.stderr.isTTY ? 'tty' : 'log',
            log,
          });
          process.stdout.write(`built ${r.image}${r.backup ? ` (previous image kept as ${r.backup})` : ''}\n`);
          if (r.kernel) process.stdout.write(`kernel ${r.kernel.vmlinuzPath}, initrd ${r.kernel.initrdPath}\n`);
        }
      } catch (err) {
        asCliError(err);
      }
    });
}
