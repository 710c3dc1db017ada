import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('install-service')
    .description('install the systemd unit')
    .action(() => {
      throw new CliError('install-service: not implemented yet');
    });
}
