/** `ltsp-ts info`: what is set up for booting and what is missing (src/image/info.ts). */
import type { Command } from 'commander';
import { formatInfo, gatherInfo } from '../../image/info.js';
import { DEFAULT_EXPORTS_FILE } from '../../image/nfs.js';
import { commandContext } from '../context.js';

export function register(program: Command): void {
  program
    .command('info')
    .description('show what is set up (iPXE binaries, ltsp.img, images, kernels, NFS exports) and what is missing')
    .option('--json', 'print JSON')
    .option('--exports-file <file>', `exports file to check (default ${DEFAULT_EXPORTS_FILE})`)
    .action(async (opts: { json?: boolean; exportsFile?: string }, cmd: Command) => {
      const { loaded } = await commandContext(cmd);
      const info = await gatherInfo(loaded.config.baseDir, loaded.config.tftpDir, opts.exportsFile);
      process.stdout.write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : formatInfo(info));
    });
}
