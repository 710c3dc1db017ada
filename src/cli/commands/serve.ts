import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run proxyDHCP, TFTP and HTTP in one daemon')
    .action(() => {
      throw new CliError('serve: not implemented yet');
    });
}
