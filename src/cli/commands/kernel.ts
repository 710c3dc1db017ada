import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('kernel')
    .description('copy the kernel and initrd of an image to TFTP_DIR/ltsp/<img>/')
    .action(() => {
      throw new CliError('kernel: not implemented yet');
    });
}
