import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run a no-root demo: serve on loopback and walk one simulated client through a boot')
    .action(() => {
      throw new CliError('demo: not implemented yet');
    });
}
