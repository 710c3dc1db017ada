import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('ipxe')
    .description('install iPXE binaries and write a static ltsp.ipxe')
    .action(() => {
      throw new CliError('ipxe: not implemented yet');
    });
}
