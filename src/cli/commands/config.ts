import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('config')
    .description('print the resolved configuration and warnings')
    .action(() => {
      throw new CliError('config: not implemented yet');
    });
}
