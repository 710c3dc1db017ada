/**
 * `ltsp-ts kernel [-k GLOB] [IMAGE...]`: copy vmlinuz and initrd.img from images to
 * TFTP_DIR/ltsp/<name>/ (LTSP's `ltsp kernel`; see src/image/kernel.ts).
 */
import type { Command } from 'commander';
import { extractKernel } from '../../image/kernel.js';
import { ltspSetting } from '../../image/settings.js';
import { commandContext } from '../context.js';
import { asCliError, imageArgs } from './image.js';

export function register(program: Command): void {
  program
    .command('kernel')
    .description('copy vmlinuz and initrd.img from images to TFTP_DIR/ltsp/<image>/ (as `ltsp kernel`)')
    .argument('[image...]', 'image sources: a name in BASE_DIR, images/<name>.img, a chroot or VM disk path')
    .option('-k, --kernel-initrd <glob>', 'kernel glob and initrd sed expression, e.g. "vmlinuz-* s|vmlinuz|initrd.img|"')
    .action(async (args: string[], opts: { kernelInitrd?: string }, cmd: Command) => {
      const { loaded, log } = await commandContext(cmd);
      const s = loaded.serverSettings;
      const { baseDir, tftpDir } = loaded.config;
      try {
        const sources = await imageArgs(args, baseDir, ltspSetting('ALL_IMAGES', s), 'ltsp-ts kernel');
        for (const src of sources) {
          const r = await extractKernel(src, { baseDir, tftpDir, kernelInitrd: opts.kernelInitrd ?? ltspSetting('KERNEL_INITRD', s), log });
          process.stdout.write(`${r.name}: ${r.vmlinuz} -> ${r.vmlinuzPath}\n${r.name}: ${r.initrd} -> ${r.initrdPath}\n`);
        }
      } catch (err) {
        asCliError(err);
      }
    });
}
