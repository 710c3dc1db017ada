import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('info')
    .description('show what is set up and what is missing')
    .action(() => {
      throw new CliError('info: not implemented yet');
    });
}
