import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('image')
    .description('build a squashfs image from a chroot, a VM disk or /')
    .action(() => {
      throw new CliError('image: not implemented yet');
    });
}
