import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('replay')
    .description('run the client DHCP packets of a capture through the decision core')
    .action(() => {
      throw new CliError('replay: not implemented yet');
    });
}
