import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('nfs')
    .description('write NFS exports for BASE_DIR and TFTP_DIR/ltsp')
    .action(() => {
      throw new CliError('nfs: not implemented yet');
    });
}
